from pathlib import Path

import cv2
import numpy as np
import pytest

from dff.data.labels import lut_reader
from dff.data.registry import build_clips, label_lut
from dff.data.sequences import davis_clips, synthetic_clips
from dff.data.synthetic import write_synthetic

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
