import json
import sys

import numpy as np
import pytest

from dff.data.datasets import DATASETS, build_clips, class_names, label_lut
from dff.data.palettes import get_palette
from dff.data.synthetic import write_synthetic
from layout_fixtures import make_camvid, make_folder

VALID = "davis, synthetic, cityscapes, camvid, folder, video"


def test_unknown_dataset_lists_valid_ones(tmp_path):
    assert ", ".join(DATASETS) == VALID
    for fn in (lambda: build_clips("kitti", tmp_path, "train"), lambda: class_names("kitti", tmp_path),
               lambda: label_lut("kitti", 3)):
        with pytest.raises(ValueError, match=f"unknown dataset 'kitti'; valid: {VALID}"):
            fn()


def test_build_clips_dispatches(tmp_path):
    cam = make_camvid(tmp_path / "camvid")
    assert [len(c.frames) for c in build_clips("camvid", cam, "train", "sequences")] == [5, 5]  # context 4
    assert [len(c.frames) for c in build_clips("camvid", cam, "train", "sequences", context=1)] == [2, 2]
    folder = make_folder(tmp_path / "folder")
    assert [c.name for c in build_clips("folder", folder, "val", "sequences")] == ["run@0", "run@9"]
    synth = write_synthetic(tmp_path / "s", {"train": 1, "val": 1}, num_frames=3, size=(16, 16), num_classes=3)
    assert [c.name for c in build_clips("synthetic", synth, "val", "sequences", 0.6)] == ["seq001"]


def test_class_names_and_palettes(tmp_path):
    synth = write_synthetic(tmp_path / "s", {"train": 1, "val": 1}, num_frames=3, size=(16, 16), num_classes=3)
    assert class_names("synthetic", synth) == ["background", "class1", "class2"]
    assert json.loads((synth / "synthetic.json").read_text())["num_classes"] == 3
    assert len(class_names("davis", tmp_path)) == 2
    with pytest.raises(FileNotFoundError, match="synthetic.json"):
        class_names("synthetic", tmp_path)
    cam = class_names("camvid", tmp_path)
    assert len(cam) == len(get_palette(DATASETS["camvid"].palette)) == 11
    assert cam[0] == "sky" and cam[-1] == "bicyclist"
    assert len(class_names("folder", tmp_path, num_classes=4)) == 4
    with pytest.raises(ValueError, match="folder needs data.num_classes"):
        class_names("folder", tmp_path)
    assert [DATASETS[d].palette for d in DATASETS] == ["voc", "synthetic", "cityscapes", "camvid", "voc", "voc"]


def test_cityscapes_info_from_the_label_table(tmp_path):
    pytest.importorskip("cityscapesscripts.helpers.labels")
    names, palette = class_names("cityscapes", tmp_path), get_palette(DATASETS["cityscapes"].palette)
    assert len(names) == 19 and len(palette) == 19
    assert names[:3] == ["road", "sidewalk", "building"] and names[-1] == "bicycle"
    assert tuple(palette[0]) == (128, 64, 128) and tuple(palette[13]) == (0, 0, 142)  # road, car
    lut = label_lut("cityscapes", 19)
    assert sorted(set(lut[lut >= 0].tolist())) == list(range(19)) + [255]
    assert (lut[34:] == -1).all()  # ids beyond the table are errors, not ignored


def test_missing_cityscapesscripts_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cityscapesscripts.helpers.labels", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install dff\[cityscapes\]"):
        class_names("cityscapes", tmp_path)


def test_label_map_only_for_folder():
    with pytest.raises(ValueError, match="label_map applies to dataset folder only, not camvid"):
        label_lut("camvid", 11, label_map={0: 0})
    lut = label_lut("folder", 2, 255, {"7": 1, 3: 0})  # YAML may give string keys
    assert lut[7] == 1 and lut[3] == 0 and lut[255] == 255 and lut[0] == -1
    assert np.flatnonzero(label_lut("synthetic", 3, 254) >= 0).tolist() == [0, 1, 2, 254]
