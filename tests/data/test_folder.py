import pytest

from dff.data.folder import folder_clips
from dff.data.labels import lut_reader
from dff.data.layouts import frame_number
from dff.data.registry import label_lut
from layout_fixtures import label_image, make_folder


def _numbers(clip):
    return [frame_number(p) for p in clip.frames]


def test_folder_sequences_runs_and_context(tmp_path):
    root = make_folder(tmp_path / "f")
    (walk,) = folder_clips(root, "train", "sequences")
    assert walk.name == "walk" and _numbers(walk) == list(range(1, 13)) and (walk.start, walk.end) == (0, 12)
    assert [i for i, lab in enumerate(walk.labels) if lab is not None] == [2, 6, 10]  # frames 3, 7, 11
    run = folder_clips(root, "val", "sequences")
    assert [(c.name, _numbers(c)) for c in run] == [("run@0", [0, 1, 2, 3, 4]), ("run@9", [9, 10, 11])]
    ctx = folder_clips(root, "val", "sequences", context=2)
    assert [(c.name, _numbers(c), c.labels[-1].name) for c in ctx] == [
        ("run@0#4", [2, 3, 4], "img_0004.png"), ("run@9#10", [9, 10], "img_0010.png")]
    temporal = folder_clips(root, "val", "temporal", 0.5)
    assert [(c.name, c.start, c.end) for c in temporal] == [("run@0", 2, 5), ("run@9", 2, 3), ("walk", 6, 12)]


def test_folder_label_map_and_errors(tmp_path):
    root = make_folder(tmp_path / "f")
    lab_path = folder_clips(root, "train", "sequences")[0].labels[2]
    lab = lut_reader(label_lut("folder", 3, 255, {10: 0, 20: 1, 30: 2}))(lab_path)
    assert lab[:3, 0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"img_0003\.png: label values \[30\] not allowed"):
        lut_reader(label_lut("folder", 3, 255, {10: 0, 20: 1}))(lab_path)
    with pytest.raises(ValueError, match=r"label values \[10, 20, 30\]"):
        lut_reader(label_lut("folder", 3))(lab_path)
    label_image(root / "labels" / "walk" / "img_0050.png", [0])
    with pytest.raises(FileNotFoundError, match=r"img_0050\.png: no frame numbered 50"):
        folder_clips(root, "train", "sequences")
    with pytest.raises(FileNotFoundError, match=r"splits.test\.txt"):
        folder_clips(root, "test", "sequences")


def test_folder_from_config_with_label_map(tmp_path):
    from dff.config import load_config
    from dff.engine.setup import load_split, num_classes_of

    root = make_folder(tmp_path / "f")
    cfg = load_config(None, ["data.dataset=folder", f"data.root={root}", "data.split_mode=sequences",
                             "data.short_side=8", "data.num_classes=3", "data.label_map={10: 0, 20: 1, 30: 2}"])
    assert num_classes_of(cfg) == 3
    store = load_split(cfg, "val")
    assert store.targets() == [(0, 4), (1, 1)]  # run@0 frame 4, run@9 frame 10
    assert store.labels[0][4][:3, 0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="folder needs data.num_classes"):
        load_split(load_config(None, ["data.dataset=folder", f"data.root={root}"]), "val")
