import random

import pytest
import torch

from dff.data.datasets import label_lut
from dff.data.labels import lut_reader
from dff.data.layouts import davis_clips
from dff.data.pairs import PairDataset
from dff.data.frames import to_float
from dff.data.store import FrameStore

davis_label = lut_reader(label_lut("davis", 2))  # what dff reads DAVIS masks with


@pytest.mark.parametrize("split, max_offset", [("train", 3), ("val", 2), ("val", 5)])
def test_pair_dataset_offsets_and_keys(noise_davis, split, max_offset):
    store = FrameStore(davis_clips(noise_davis, split, "temporal", 0.6), 12, davis_label)
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


def test_pair_dataset_pair_only_windows_hold_key_and_current(noise_davis):
    store = FrameStore(davis_clips(noise_davis, "train", "temporal", 0.6), 12, davis_label)
    ds = PairDataset(store, 3, pair_only=True)
    for idx, (c, t) in enumerate(ds.items):
        window, label, offset = ds[idx]
        assert window.shape[0] == 2
        assert torch.equal(window[0], to_float(store.frames[c][t - offset]))
        assert torch.equal(window[1], to_float(store.frames[c][t]))


def test_pair_dataset_crop_and_empty(noise_davis):
    store = FrameStore(davis_clips(noise_davis, "train", "temporal", 0.6), 12, davis_label)
    ds = PairDataset(store, 0, crop_size=(8, 20))  # wider than the 12x16 frames: padded
    for idx in range(len(ds)):
        window, label, offset = ds[idx]
        assert offset == 0 and window.shape == (1, 3, 8, 20)
        assert label.shape == (8, 20) and label.dtype == torch.int64
        assert (label == 255).sum() == 8 * 4 and set(label.unique().tolist()) <= {0, 1, 255}
    empty = FrameStore(davis_clips(noise_davis, "train", "temporal", 0.6)[:0], 12, davis_label)
    with pytest.raises(ValueError, match="no labelled frames"):
        PairDataset(empty, 2)


def _same(a, b) -> bool:
    return torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]


def test_pair_dataset_draws_depend_on_seed_epoch_index_only(noise_davis):
    store = FrameStore(davis_clips(noise_davis, "train", "temporal", 0.6), 12, davis_label)
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


def test_pair_dataset_same_samples_in_dataloader_workers(noise_davis):
    from torch.utils.data import DataLoader

    store = FrameStore(davis_clips(noise_davis, "train", "temporal", 0.6), 12, davis_label)
    ds = PairDataset(store, 3, crop_size=(8, 8), scale_range=(0.7, 1.3), seed=2)
    ds.set_epoch(4)
    main = list(DataLoader(ds, batch_size=2))
    workers = list(DataLoader(ds, batch_size=2, num_workers=2))
    assert len(main) == len(workers) > 1
    for (w0, l0, o0), (w1, l1, o1) in zip(main, workers):
        assert torch.equal(w0, w1) and torch.equal(l0, l1) and torch.equal(o0, o1)
