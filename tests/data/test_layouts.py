import numpy as np
import pytest

from dff.config import load_config
from dff.data.datasets import PairDataset
from dff.data.labels import lut_reader
from dff.data.layouts import camvid_clips, cityscapes_clips, frame_number
from dff.data.registry import label_lut
from dff.engine.setup import load_split
from layout_fixtures import label_image, make_camvid, make_cityscapes


def _numbers(clip):
    return [frame_number(p) for p in clip.frames]


def _cs_number(path):
    """Frame number of {city}_{seq}_{frame}_leftImg8bit.png."""
    return int(path.name.split("_")[2])


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory):
    return make_cityscapes(tmp_path_factory.mktemp("cs"))


@pytest.fixture(scope="module")
def camvid(tmp_path_factory):
    return make_camvid(tmp_path_factory.mktemp("camvid"))


def test_frame_number():
    from pathlib import Path
    assert frame_number(Path("a/Seq05VD_f00030.png")) == 30
    assert frame_number(Path("0001TP_006690.png")) == 6690
    with pytest.raises(ValueError, match=r"frame\.png: no frame number"):
        frame_number(Path("frame.png"))


@pytest.mark.parametrize("context, aachen, bremen", [
    (4, [117, 118, 119], [15, 16, 17, 18, 19]),  # 116 is missing: the clip stops there
    (25, [117, 118, 119], list(range(0, 20))),
    (0, [119], [19]),
])
def test_cityscapes_neighbours_by_frame_number(cityscapes, context, aachen, bremen):
    clips = cityscapes_clips(cityscapes, "train", "sequences", context)
    assert [c.name for c in clips] == ["aachen_000003_000119_gtFine_labelIds", "bremen_000000_000019_gtFine_labelIds"]
    assert [[_cs_number(p) for p in c.frames] for c in clips] == [aachen, bremen]
    for c in clips:
        assert (c.start, c.end) == (0, len(c.frames)) and c.labels[:-1] == [None] * (len(c.frames) - 1)
        assert c.labels[-1].parent.name == c.frames[-1].parent.name  # same city
        # every frame of the clip is of the label's city and sequence
        assert all(p.name.startswith(c.name[:14]) and p.name.endswith("_leftImg8bit.png") for p in c.frames)
    assert [c.name[:6] for c in cityscapes_clips(cityscapes, "val", "sequences", 2)] == ["zurich"]


def test_cityscapes_errors(cityscapes, tmp_path):
    with pytest.raises(ValueError, match="split_mode=sequences"):
        cityscapes_clips(cityscapes, "train", "temporal")
    with pytest.raises(ValueError, match="unknown cityscapes labels 'color'.*labelIds, labelTrainIds"):
        cityscapes_clips(cityscapes, "train", labels="color")
    with pytest.raises(FileNotFoundError, match="gtFine_labelTrainIds"):
        cityscapes_clips(cityscapes, "train", labels="labelTrainIds")
    root = make_cityscapes(tmp_path / "cs")
    (root / "leftImg8bit_sequence" / "val" / "zurich" / "zurich_000001_000019_leftImg8bit.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"zurich_000001_000019_gtFine_labelIds\.png: no video frame numbered 19"):
        cityscapes_clips(root, "val", "sequences")


def test_cityscapes_ids_to_train_ids(cityscapes, tmp_path):
    pytest.importorskip("cityscapesscripts.helpers.labels")
    clip = cityscapes_clips(cityscapes, "train", "sequences")[0]
    lab = lut_reader(label_lut("cityscapes", 19))(clip.labels[-1])
    # unlabeled 0 -> ignore, road 7 -> 0, sidewalk 8 -> 1, car 26 -> 13, bicycle 33 -> 18
    assert lab.dtype == np.uint8 and lab[:5, 0].tolist() == [255, 0, 1, 13, 18]
    assert lut_reader(label_lut("cityscapes", 19, 250))(clip.labels[-1])[0, 0] == 250
    bad = tmp_path / "x_000000_000019_gtFine_labelIds.png"
    label_image(bad, [7, 34])
    with pytest.raises(ValueError, match=r"labelIds\.png: label values \[34\] not allowed"):
        lut_reader(label_lut("cityscapes", 19))(bad)


def test_cityscapes_train_id_files(tmp_path):
    pytest.importorskip("cityscapesscripts.helpers.labels")
    root = make_cityscapes(tmp_path / "cs", kind="labelTrainIds")
    clip = cityscapes_clips(root, "train", "sequences", labels="labelTrainIds")[0]
    read = lut_reader(label_lut("cityscapes", 19, 250, cityscapes_labels="labelTrainIds"))
    assert read(clip.labels[-1])[:5, 0].tolist() == [250, 0, 1, 13, 18]
    label_image(clip.labels[-1], [0, 19])
    with pytest.raises(ValueError, match=r"label values \[19\] not allowed"):
        read(clip.labels[-1])


def test_cityscapes_pairs_from_config(cityscapes):
    pytest.importorskip("cityscapesscripts.helpers.labels")
    cfg = load_config(None, ["data.dataset=cityscapes", f"data.root={cityscapes}", "data.split_mode=sequences",
                             "data.short_side=8", "model.key_interval=5"])
    store = load_split(cfg, "train")
    assert [sorted(f) for f in store.frames] == [[0, 1, 2], [0, 1, 2, 3, 4]]  # key_interval - 1 before
    ds = PairDataset(store, 4, pair_only=True)
    seen = set()
    for epoch in range(20):
        ds.set_epoch(epoch)
        for i, (c, t) in enumerate(ds.items):
            window, label, offset = ds[i]
            n = _cs_number(store.clips[c].frames[t])
            assert round(float(window[0, 0, 0, 0]) * 255) == n - offset  # the key is frame n - offset
            assert round(float(window[1, 0, 0, 0]) * 255) == n
            assert label[:5, 0].tolist() == [255, 0, 1, 13, 18]
            seen.add((c, offset))
    assert seen == {(0, 0), (0, 1), (0, 2)} | {(1, d) for d in range(5)}


def test_camvid_clips_labels_and_pairs(camvid):
    train = camvid_clips(camvid, "train", "sequences", 4)
    assert [c.name for c in train] == ["0001TP_006690", "Seq05VD_f00030"]
    assert [_numbers(c) for c in train] == [list(range(6686, 6691)), list(range(26, 31))]
    assert [c.labels[-1].relative_to(camvid).as_posix() for c in train] == \
        ["trainannot/0001TP_006690.png", "trainannot/Seq05VD_f00030.png"]
    val = camvid_clips(camvid, "val", "sequences", 4)
    assert [_numbers(c) for c in val] == [[0, 1, 2, 3]]  # no frame before 0
    lab = lut_reader(label_lut("camvid", 11))(train[0].labels[-1])
    assert lab[:4, 0].tolist() == [0, 3, 10, 255]  # 11 = void -> ignore_index
    label_image(camvid / "valannot" / "bad.png", [0, 12])
    with pytest.raises(ValueError, match=r"bad\.png: label values \[12\] not allowed"):
        lut_reader(label_lut("camvid", 11))(camvid / "valannot" / "bad.png")
    with pytest.raises(ValueError, match="split_mode=sequences"):
        camvid_clips(camvid, "train", "temporal")
    with pytest.raises(FileNotFoundError, match=r"test\.txt"):
        camvid_clips(camvid, "test")


def test_camvid_label_without_frame(tmp_path):
    root = make_camvid(tmp_path / "cv")
    (root / "frames" / "0001TP" / "0001TP_006690.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"0001TP_006690\.png: no video frame numbered 6690"):
        camvid_clips(root, "train")
