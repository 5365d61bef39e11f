import torch

from dff.models.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize


def test_imagenet_mean_goes_to_zero_and_one_std_above_to_one():
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    frames = torch.cat([mean, mean + std]).expand(2, 3, 4, 5)
    out = Normalize()(frames)
    assert torch.allclose(out[0], torch.zeros(3, 4, 5), atol=1e-6)
    assert torch.allclose(out[1], torch.ones(3, 4, 5), atol=1e-6)
    assert Normalize().state_dict() == {}  # not saved in checkpoints
