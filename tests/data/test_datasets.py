import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dff.data.datasets import FrameStore, PairDataset, resized_size, to_float
from dff.data.labels import lut_reader
from dff.data.registry import label_lut
from dff.data.sequences import davis_clips

davis_label = lut_reader(label_lut("davis", 2))  # what dff reads DAVIS masks with

H, W = 24, 32
SEQS = {"alpha": 10, "beta": 7}


def make_davis(root: Path, missing=(), bad_size=()) -> Path:
    """Tiny DAVIS-2016 layout of noise frames; `missing` frames get no mask, `bad_size` a mask of the wrong size."""
    rng = np.random.default_rng(0)
    for name, n in SEQS.items():
        img_dir, ann_dir = root / "JPEGImages" / "480p" / name, root / "Annotations" / "480p" / name
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        for t in range(n):
            img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            img[:4, :4] = (0, 0, 255)  # pure red corner (BGR) to check the RGB conversion
            cv2.imwrite(str(img_dir / f"{t:05d}.jpg"), img)
            if (name, t) in missing:
                continue
            mask = np.where(rng.random((H, W)) < 0.4, 255, 0).astype(np.uint8)
            if (name, t) in bad_size:
                mask = mask[:-2]
            cv2.imwrite(str(ann_dir / f"{t:05d}.png"), mask)
    sets = root / "ImageSets" / "2016"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("alpha\n")
    (sets / "val.txt").write_text("beta\n")
    return root


@pytest.fixture(scope="module")
def davis(tmp_path_factory):
    return make_davis(tmp_path_factory.mktemp("davis"), missing={("alpha", 8)})


@pytest.mark.parametrize("short_side, size", [(12, (12, 16)), (10, (10, 13)), (36, (36, 48))])
def test_frame_store_resizes_frames_and_labels(davis, short_side, size):
    store = FrameStore(davis_clips(davis, "train", "temporal", 0.6), short_side, davis_label)
    for clip, frames, labels in zip(store.clips, store.frames, store.labels):
        assert sorted(frames) == list(range(clip.start, clip.end))  # nothing outside the split
        for i, f in frames.items():
            assert f.dtype == torch.uint8 and f.shape == (3, *size) and f.is_contiguous()
            red = f[:, : size[0] // 8, : size[1] // 8].float().mean(dim=(1, 2))
            assert red[0] > 200 and red[1] < 60 and red[2] < 60  # stored RGB, not BGR
        for i, lab in labels.items():
            assert lab.dtype == torch.uint8 and lab.shape == size
            assert set(lab.unique().tolist()) == {0, 1}  # nearest: no blended values
            # the resized label is a nearest-neighbour sample of the original mask
            orig = davis_label(clip.labels[i])
            ref = cv2.resize(orig, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
            np.testing.assert_array_equal(lab.numpy(), ref)


def test_frame_store_split_ranges_and_targets(davis):
    val = FrameStore(davis_clips(davis, "val", "temporal", 0.6), 12, davis_label)
    assert [sorted(f) for f in val.frames] == [list(range(6, 10)), list(range(4, 7))]
    # alpha frame 8 has no mask: not a target, but still stored (it can be a key)
    assert val.targets() == [(0, 6), (0, 7), (0, 9), (1, 4), (1, 5), (1, 6)]
    assert 8 in val.frames[0] and 8 not in val.labels[0]


def test_frame_store_label_size_mismatch_names_file(tmp_path):
    root = make_davis(tmp_path / "d", bad_size={("beta", 2)})
    with pytest.raises(ValueError, match=r"beta.00002\.png.*differs"):
        FrameStore(davis_clips(root, "val", "sequences"), 12, davis_label)
    # outside the split the bad label is never read
    FrameStore(davis_clips(root, "val", "temporal", 0.6), 12, davis_label)


@pytest.mark.parametrize("split, max_offset", [("train", 3), ("val", 2), ("val", 5)])
def test_pair_dataset_offsets_and_keys(davis, split, max_offset):
    store = FrameStore(davis_clips(davis, split, "temporal", 0.6), 12, davis_label)
    ds = PairDataset(store, max_offset)
    assert len(ds) == len(store.targets())
    seen = {}
    for epoch in range(30):
        ds.set_epoch(epoch)
        for idx, (c, t) in enumerate(ds.items):
            window, label, offset = ds[idx]
            key, cur = window[0], window[-1]
            start = store.clips[c].start
            assert 0 <= offset <= max_offset and t - offset >= start
            seen.setdefault((c, t), set()).add(offset)
            # front-padded with the key, then key .. current in order
            idx_expected = [t - offset] * (max_offset - offset) + list(range(t - offset, t + 1))
            assert window.shape[0] == max_offset + 1
            for w, i in zip(window, idx_expected):
                assert torch.equal(w, to_float(store.frames[c][i]))
            assert torch.equal(key, to_float(store.frames[c][t - offset]))
            assert torch.equal(cur, to_float(store.frames[c][t]))
            assert torch.equal(label, store.labels[c][t].long())
            assert key.dtype == cur.dtype == torch.float32 and label.dtype == torch.int64
            assert 0.0 <= key.min() and key.max() <= 1.0 and cur.max() > 0.5
    # every allowed offset is drawn for each target
    for (c, t), offs in seen.items():
        assert offs == set(range(min(max_offset, t - store.clips[c].start) + 1))


def test_pair_dataset_pair_only_windows_hold_key_and_current(davis):
    store = FrameStore(davis_clips(davis, "train", "temporal", 0.6), 12, davis_label)
    ds = PairDataset(store, 3, pair_only=True)
    for idx, (c, t) in enumerate(ds.items):
        window, label, offset = ds[idx]
        assert window.shape[0] == 2
        assert torch.equal(window[0], to_float(store.frames[c][t - offset]))
        assert torch.equal(window[1], to_float(store.frames[c][t]))


def test_pair_dataset_crop_and_empty(davis):
    store = FrameStore(davis_clips(davis, "train", "temporal", 0.6), 12, davis_label)
    ds = PairDataset(store, 0, crop_size=(8, 20))  # wider than the 12x16 frames: padded
    for idx in range(len(ds)):
        window, label, offset = ds[idx]
        assert offset == 0 and window.shape == (1, 3, 8, 20)
        assert label.shape == (8, 20) and label.dtype == torch.int64
        assert (label == 255).sum() == 8 * 4 and set(label.unique().tolist()) <= {0, 1, 255}
    empty = FrameStore(davis_clips(davis, "train", "temporal", 0.6)[:0], 12, davis_label)
    with pytest.raises(ValueError, match="no labelled frames"):
        PairDataset(empty, 2)


@pytest.mark.parametrize("hw, short, out", [
    ((480, 854), 240, (240, 427)),
    ((854, 480), 240, (427, 240)),
    ((360, 640), 240, (240, 427)),
    ((480, 854), 480, (480, 854)),
    ((24, 32), 10, (10, 13)),
    ((100, 100), 7, (7, 7)),
    ((1000, 2), 1, (500, 1)),
])
def test_resized_size(hw, short, out):
    assert resized_size(*hw, short) == out


def _same(a, b) -> bool:
    return torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]


def test_pair_dataset_draws_depend_on_seed_epoch_index_only(davis):
    store = FrameStore(davis_clips(davis, "train", "temporal", 0.6), 12, davis_label)
    kw = dict(max_offset=3, crop_size=(8, 10), scale_range=(0.8, 1.5), jitter=0.3)
    ds, twin = PairDataset(store, seed=5, **kw), PairDataset(store, seed=5, **kw)
    first = [ds[i] for i in range(len(ds))]
    random.seed(123)  # the global RNG plays no part
    torch.manual_seed(123)
    assert all(_same(a, twin[i]) for i, a in enumerate(first))
    assert all(_same(a, ds[i]) for i, a in enumerate(first))  # re-reading a sample repeats it
    ds.set_epoch(1)
    assert sum(_same(a, ds[i]) for i, a in enumerate(first)) < len(first) // 2
    ds.set_epoch(0)
    assert all(_same(a, ds[i]) for i, a in enumerate(first))
    other = PairDataset(store, seed=6, **kw)
    assert sum(_same(a, other[i]) for i, a in enumerate(first)) < len(first) // 2
    # the default seed (0) keeps the old constructor working
    assert _same(PairDataset(store, 3)[0], PairDataset(store, 3, seed=0)[0])


def test_pair_dataset_same_samples_in_dataloader_workers(davis):
    from torch.utils.data import DataLoader

    store = FrameStore(davis_clips(davis, "train", "temporal", 0.6), 12, davis_label)
    ds = PairDataset(store, 3, crop_size=(8, 8), scale_range=(0.7, 1.3), seed=2)
    ds.set_epoch(4)
    main = list(DataLoader(ds, batch_size=2))
    workers = list(DataLoader(ds, batch_size=2, num_workers=2))
    assert len(main) == len(workers) > 1
    for (w0, l0, o0), (w1, l1, o1) in zip(main, workers):
        assert torch.equal(w0, w1) and torch.equal(l0, l1) and torch.equal(o0, o1)
