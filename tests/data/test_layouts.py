from pathlib import Path

import cv2
import numpy as np
import pytest

from dff.config import load_config
from dff.data.clips import frame_number
from dff.data.datasets import build_clips, label_lut
from dff.data.labels import lut_reader
from dff.data.layouts import camvid_clips, cityscapes_clips, davis_clips, folder_clips, synthetic_clips
from dff.data.pairs import PairDataset
from dff.data.synthetic import write_synthetic
from dff.engine.builders import load_split
from layout_fixtures import label_image, make_camvid, make_cityscapes, make_folder


def _numbers(clip):
    return [frame_number(p) for p in clip.frames]


davis_label = lut_reader(label_lut("davis", 2))  # what dff reads DAVIS masks with


def plain_label(path, num_classes, ignore_index=255):
    """A class-id PNG read as the synthetic and folder layouts read it."""
    return lut_reader(label_lut("folder", num_classes, ignore_index))(path)


REAL_DAVIS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "davis2016-mini"
# Official DAVIS-2016 sequence lengths; they sum to 913 (shared/data/README.md says 962, which is wrong).
REAL_LENGTHS = {"blackswan": 50, "bmx-trees": 80, "breakdance": 84, "camel": 90, "car-roundabout": 75,
                "car-shadow": 40, "cows": 104, "dance-twirl": 90, "dog": 60, "goat": 90, "kite-surf": 50,
                "parkour": 100}
REAL_FRAMES = sum(REAL_LENGTHS.values())
# Different lengths so that round(train_fraction * n) is exercised on non-multiples of 5.
SEQS = {"alpha": 10, "beta": 7, "gamma": 5}
SPLITS = {"train": ["alpha", "gamma"], "val": ["beta"]}


def make_davis(root: Path, seqs=SEQS, splits=SPLITS, size=(24, 32), missing=()) -> Path:
    """Tiny DAVIS-2016 layout; (seq, frame) pairs in `missing` get no annotation file."""
    rng = np.random.default_rng(0)
    h, w = size
    for name, n in seqs.items():
        img_dir = root / "JPEGImages" / "480p" / name
        ann_dir = root / "Annotations" / "480p" / name
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        for t in range(n):
            cv2.imwrite(str(img_dir / f"{t:05d}.jpg"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            if (name, t) not in missing:
                mask = np.zeros((h, w), np.uint8)
                mask[t % h:, : w // 2] = 255
                cv2.imwrite(str(ann_dir / f"{t:05d}.png"), mask)
    sets = root / "ImageSets" / "2016"
    sets.mkdir(parents=True)
    for split, names in splits.items():
        (sets / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root


@pytest.fixture
def davis(tmp_path):
    return make_davis(tmp_path / "davis", missing={("beta", 3)})


@pytest.mark.parametrize("fraction", [0.6, 0.3, 0.5])
def test_temporal_split_covers_every_sequence(davis, fraction):
    train = {c.name: c for c in davis_clips(davis, "train", "temporal", fraction)}
    val = {c.name: c for c in davis_clips(davis, "val", "temporal", fraction)}
    assert set(train) == set(val) == set(SEQS)
    for name, n in SEQS.items():
        cut = round(fraction * n)
        assert (train[name].start, train[name].end) == (0, cut)
        assert (val[name].start, val[name].end) == (cut, n)
        assert len(train[name].frames) == len(train[name].labels) == n  # ranges index the full clip
        assert [p.name for p in train[name].frames] == [f"{t:05d}.jpg" for t in range(n)]


def test_clip_paths_and_missing_labels(davis):
    beta = {c.name: c for c in davis_clips(davis, "val", "temporal")}["beta"]
    assert all(p.is_file() for p in beta.frames)
    assert beta.labels[3] is None
    assert all(lab is not None and lab.stem == f.stem and lab.is_file()
               for i, (f, lab) in enumerate(zip(beta.frames, beta.labels)) if i != 3)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_train_fraction_outside_unit_interval_raises(davis, fraction):
    with pytest.raises(ValueError, match="train_fraction"):
        davis_clips(davis, "train", "temporal", fraction)


def test_sequences_split_uses_lists_and_full_ranges(davis):
    for split, names in SPLITS.items():
        clips = davis_clips(davis, split, "sequences")
        assert [c.name for c in clips] == names
        assert all((c.start, c.end) == (0, SEQS[c.name]) == (0, len(c.frames)) for c in clips)


def test_unknown_split_mode_and_split_raise(davis):
    with pytest.raises(ValueError, match="unknown split_mode 'random'.*temporal, sequences"):
        davis_clips(davis, "train", "random")
    with pytest.raises(ValueError, match="split"):
        davis_clips(davis, "test")


def test_missing_imagesets_names_root(tmp_path):
    root = tmp_path / "not_davis"
    (root / "JPEGImages" / "480p" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=str(root)):
        davis_clips(root, "train")


def test_davis_label_maps_0_255_to_0_1(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[2:, 3:] = 255
    p = tmp_path / "m.png"
    cv2.imwrite(str(p), mask)
    lab = davis_label(p)
    assert lab.dtype == np.uint8 and lab.shape == (6, 8)
    np.testing.assert_array_equal(lab, mask // 255)


def test_davis_label_rejects_other_values_and_rgb(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[0, 0], mask[1, 1] = 255, 128
    p = tmp_path / "grey.png"
    cv2.imwrite(str(p), mask)
    with pytest.raises(ValueError, match=r"grey\.png.*\[128\]"):
        davis_label(p)
    rgb = tmp_path / "rgb.png"
    cv2.imwrite(str(rgb), np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"rgb\.png"):
        davis_label(rgb)


def test_plain_label_validates_ids(tmp_path):
    m = np.array([[0, 1, 2, 255]], np.uint8)
    ok = tmp_path / "ok.png"
    cv2.imwrite(str(ok), m)
    np.testing.assert_array_equal(plain_label(ok, num_classes=3), m)  # 255 = ignore_index allowed
    with pytest.raises(ValueError, match=r"ok\.png.*\[255\]"):
        plain_label(ok, num_classes=3, ignore_index=254)
    bad = tmp_path / "bad.png"
    cv2.imwrite(str(bad), np.array([[0, 3, 7, 255]], np.uint8))
    with pytest.raises(ValueError, match=r"bad\.png.*\[3, 7\]"):
        plain_label(bad, num_classes=3)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "set"
    return write_synthetic(root, {"train": 2, "val": 1}, num_frames=6, size=(32, 48), num_classes=3, seed=1)


def test_synthetic_clips_sequences_and_temporal(synth):
    train, val = synthetic_clips(synth, "train"), synthetic_clips(synth, "val")
    assert [c.name for c in train] == ["seq000", "seq001"] and [c.name for c in val] == ["seq002"]
    for c in train + val:
        assert (c.start, c.end) == (0, 6) and len(c.frames) == 6
        assert all(lab is not None and lab.name == f.name for f, lab in zip(c.frames, c.labels))
        assert plain_label(c.labels[0], 3).shape == (32, 48)
    t_train = synthetic_clips(synth, "train", "temporal", 0.5)
    t_val = build_clips("synthetic", synth, "val", "temporal", 0.5)
    assert [c.name for c in t_train] == [c.name for c in t_val] == ["seq000", "seq001", "seq002"]
    assert all((a.start, a.end, b.start, b.end) == (0, 3, 3, 6) for a, b in zip(t_train, t_val))


def test_synthetic_clips_missing_split_raises(synth, tmp_path):
    with pytest.raises(FileNotFoundError, match="make-synthetic"):
        synthetic_clips(synth, "test")
    with pytest.raises(FileNotFoundError):
        synthetic_clips(tmp_path / "nothing", "train", "temporal")


@pytest.mark.skipif(not REAL_DAVIS.is_dir(), reason=f"real DAVIS-2016 mini set not found at {REAL_DAVIS}")
def test_real_davis_mini():
    seq = davis_clips(REAL_DAVIS, "train", "sequences") + davis_clips(REAL_DAVIS, "val", "sequences")
    assert len(seq) == 12 and len({c.name for c in seq}) == 12
    assert len(davis_clips(REAL_DAVIS, "train", "sequences")) == 8
    assert len(davis_clips(REAL_DAVIS, "val", "sequences")) == 4
    assert {c.name: len(c.frames) for c in seq} == REAL_LENGTHS
    assert all(lab is not None for c in seq for lab in c.labels)
    train, val = davis_clips(REAL_DAVIS, "train"), davis_clips(REAL_DAVIS, "val")
    assert len(train) == len(val) == 12
    assert sum(c.end - c.start for c in train + val) == REAL_FRAMES == 913
    assert all(a.name == b.name and a.start == 0 and a.end == b.start and b.end == len(b.frames)
               for a, b in zip(train, val))
    for lab_path in (seq[0].labels[0], seq[-1].labels[-1]):
        lab = davis_label(lab_path)
        assert lab.shape == (480, 854) and set(np.unique(lab)) <= {0, 1}
        assert lab.any()


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
    from dff.engine.builders import load_split, num_classes_of

    root = make_folder(tmp_path / "f")
    cfg = load_config(None, ["data.dataset=folder", f"data.root={root}", "data.split_mode=sequences",
                             "data.short_side=8", "data.num_classes=3", "data.label_map={10: 0, 20: 1, 30: 2}"])
    assert num_classes_of(cfg) == 3
    store = load_split(cfg, "val")
    assert store.targets() == [(0, 4), (1, 1)]  # run@0 frame 4, run@9 frame 10
    assert store.labels[0][4][:3, 0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="folder needs data.num_classes"):
        load_split(load_config(None, ["data.dataset=folder", f"data.root={root}"]), "val")


def _cs_number(path):
    """Frame number of {city}_{seq}_{frame}_leftImg8bit.png."""
    return int(path.name.split("_")[2])


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory):
    return make_cityscapes(tmp_path_factory.mktemp("cs"))


@pytest.fixture(scope="module")
def camvid(tmp_path_factory):
    return make_camvid(tmp_path_factory.mktemp("camvid"))


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
