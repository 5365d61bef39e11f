import math

import pytest
import torch

from dff.engine.metrics import ConfusionMatrix


def test_known_confusion_and_miou():
    cm = ConfusionMatrix(3)
    target = torch.tensor([0, 0, 1, 1, 2, 255])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    cm.update(pred, target)
    assert cm.mat.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # IoU: class0 1/(2+2-1)=1/3, class1 2/(3+2-2)=2/3, class2 0/(1+0-0)=0
    assert torch.allclose(cm.iou(), torch.tensor([1 / 3, 2 / 3, 0.0], dtype=torch.float64))
    assert math.isclose(cm.miou(), 1 / 3)


def test_absent_classes_do_not_count():
    cm = ConfusionMatrix(4)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert cm.miou() == 1.0 and cm.iou()[2:].isnan().all()


def test_errors():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match="differ"):
        cm.update(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="outside"):
        cm.update(torch.zeros(2), torch.tensor([0, 5]))


def test_class_map_equals_argmax_ties_included():
    from dff.engine.metrics import class_map

    scores = torch.randint(0, 3, (1, 4, 9, 11)).float()  # many ties: the first maximum wins, as in argmax
    assert torch.equal(class_map(scores, 1), scores.argmax(1))
    assert torch.equal(class_map(scores[0], 0), scores[0].argmax(0))
