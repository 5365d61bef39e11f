import json
import sys

import numpy as np
import pytest

from dff.data.registry import DATASETS, build_clips, dataset_info, label_lut
from dff.data.synthetic import write_synthetic
from layout_fixtures import make_camvid, make_folder

VALID = "davis, synthetic, cityscapes, camvid, folder"


def test_unknown_dataset_lists_valid_ones(tmp_path):
    assert ", ".join(DATASETS) == VALID
    for fn in (lambda: build_clips("kitti", tmp_path, "train"), lambda: dataset_info("kitti", tmp_path),
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


def test_dataset_info(tmp_path):
    synth = write_synthetic(tmp_path / "s", {"train": 1, "val": 1}, num_frames=3, size=(16, 16), num_classes=3)
    assert dataset_info("synthetic", synth) == {"num_classes": 3, "class_names": ["background", "class1", "class2"]}
    assert json.loads((synth / "synthetic.json").read_text())["num_classes"] == 3
    assert dataset_info("davis", tmp_path)["num_classes"] == 2
    with pytest.raises(FileNotFoundError, match="synthetic.json"):
        dataset_info("synthetic", tmp_path)
    cam = dataset_info("camvid", tmp_path)
    assert cam["num_classes"] == len(cam["class_names"]) == len(cam["palette"]) == 11
    assert cam["class_names"][0] == "sky" and cam["class_names"][-1] == "bicyclist"
    assert dataset_info("folder", tmp_path, num_classes=4)["num_classes"] == 4
    with pytest.raises(ValueError, match="folder needs data.num_classes"):
        dataset_info("folder", tmp_path)


def test_cityscapes_info_from_the_label_table(tmp_path):
    pytest.importorskip("cityscapesscripts.helpers.labels")
    info = dataset_info("cityscapes", tmp_path)
    assert info["num_classes"] == 19 and len(info["palette"]) == 19
    assert info["class_names"][:3] == ["road", "sidewalk", "building"] and info["class_names"][-1] == "bicycle"
    assert info["palette"][0] == (128, 64, 128) and info["palette"][13] == (0, 0, 142)  # road, car
    lut = label_lut("cityscapes", 19)
    assert sorted(set(lut[lut >= 0].tolist())) == list(range(19)) + [255]
    assert (lut[34:] == -1).all()  # ids beyond the table are errors, not ignored


def test_missing_cityscapesscripts_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cityscapesscripts.helpers.labels", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install dff\[cityscapes\]"):
        dataset_info("cityscapes", tmp_path)


def test_label_map_only_for_folder():
    with pytest.raises(ValueError, match="label_map applies to dataset folder only, not camvid"):
        label_lut("camvid", 11, label_map={0: 0})
    lut = label_lut("folder", 2, 255, {"7": 1, 3: 0})  # YAML may give string keys
    assert lut[7] == 1 and lut[3] == 0 and lut[255] == 255 and lut[0] == -1
    assert np.flatnonzero(label_lut("synthetic", 3, 254) >= 0).tolist() == [0, 1, 2, 254]
