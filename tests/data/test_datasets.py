import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dff.data.datasets import FrameStore, PairDataset, resized_size, to_float
from dff.data.sequences import davis_clips, davis_label
from dff.data.transforms import paired_crop_flip, pad_to

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
    random.seed(0)
    seen = {}
    for _ in range(30):
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
    random.seed(2)
    for idx, (c, t) in enumerate(ds.items):
        window, label, offset = ds[idx]
        assert window.shape[0] == 2
        assert torch.equal(window[0], to_float(store.frames[c][t - offset]))
        assert torch.equal(window[1], to_float(store.frames[c][t]))


def test_pair_dataset_crop_and_empty(davis):
    store = FrameStore(davis_clips(davis, "train", "temporal", 0.6), 12, davis_label)
    random.seed(1)
    ds = PairDataset(store, 0, crop_size=(8, 20))  # wider than the 12x16 frames: padded
    for idx in range(len(ds)):
        window, label, offset = ds[idx]
        assert offset == 0 and window.shape == (1, 3, 8, 20)
        assert label.shape == (8, 20) and label.dtype == torch.int64
        assert (label == 255).sum() == 8 * 4 and set(label.unique().tolist()) <= {0, 1, 255}
    empty = FrameStore(davis_clips(davis, "train", "temporal", 0.6)[:0], 12, davis_label)
    with pytest.raises(ValueError, match="no labelled frames"):
        PairDataset(empty, 2)


def _position_sample(h, w):
    code = torch.arange(1, h * w + 1).reshape(h, w)  # 1-based: 0 marks frame padding
    return code.expand(3, h, w).clone(), code.expand(3, h, w).clone(), (code % 250).to(torch.uint8)


def test_paired_crop_flip_same_window_for_all():
    h, w, ch, cw = 20, 30, 7, 11
    key, cur, label = _position_sample(h, w)
    random.seed(0)
    origins, flips = set(), 0
    for _ in range(300):
        (k, c), lab = paired_crop_flip(torch.stack((key, cur)), label, (ch, cw))
        assert k.shape == c.shape == (3, ch, cw) and lab.shape == (ch, cw) and lab.dtype == torch.uint8
        assert torch.equal(k, c) and torch.equal(lab, (k[0] % 250).to(torch.uint8))
        assert (k[0] == k[1]).all() and (k[0] == k[2]).all()
        flipped = bool(k[0, 0, 0] > k[0, 0, -1])
        win = k[0].flip(-1) if flipped else k[0]
        y0, x0 = divmod(int(win[0, 0]) - 1, w)
        assert torch.equal(win, key[0, y0:y0 + ch, x0:x0 + cw])
        origins.add((y0, x0))
        flips += flipped
    assert 100 < flips < 200
    ys, xs = {o[0] for o in origins}, {o[1] for o in origins}
    assert min(ys) == 0 and max(ys) <= h - ch and len(ys) > 8
    assert min(xs) == 0 and max(xs) <= w - cw and len(xs) > 12


@pytest.mark.parametrize("crop", [(8, 9), (8, 4), (3, 9)])
def test_paired_crop_flip_pads_beyond_frame(crop):
    h, w = 5, 6
    key, cur, label = _position_sample(h, w)
    random.seed(3)
    for _ in range(40):
        (k, c), lab = paired_crop_flip(torch.stack((key, cur)), label, crop, ignore_index=200)
        assert k.shape == (3, *crop) and lab.shape == crop and torch.equal(k, c)
        pad_frame, pad_label = k[0] == 0, lab == 200
        assert torch.equal(pad_frame, pad_label)  # padding coincides in frames and label
        assert int(pad_frame.sum()) == crop[0] * crop[1] - min(crop[0], h) * min(crop[1], w)
        assert torch.equal(lab[~pad_label], (k[0][~pad_frame] % 250).to(torch.uint8))
        if crop[0] > h:
            assert pad_frame[h:].all() and not pad_frame[:h].all()  # bottom rows padded


def test_pad_to():
    x = torch.ones(2, 3, 4, dtype=torch.uint8)
    assert pad_to(x, 2, 3, 0) is x
    y = pad_to(x, 5, 6, 7)
    assert y.shape == (2, 5, 6) and y.dtype == torch.uint8
    assert (y[:, :3, :4] == 1).all() and (y[:, 3:] == 7).all() and (y[:, :, 4:] == 7).all()


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


def test_paired_scale_resizes_frames_and_label_together():
    import random as _random

    from dff.data.transforms import paired_scale

    _random.seed(3)
    key = torch.zeros(3, 20, 30, dtype=torch.uint8)
    key[:, :10] = 200
    label = (key[0] > 0).to(torch.uint8)
    for _ in range(10):
        (k, c), lab = paired_scale(torch.stack((key, key.clone())), label, (0.5, 2.0))
        assert k.shape[-2:] == lab.shape and k.dtype == torch.uint8 and torch.equal(k, c)
        assert set(lab.unique().tolist()) <= {0, 1}  # nearest: no new label values
        rows = lab.shape[0]
        assert abs(lab[:, 0].sum().item() - rows / 2) <= 1  # the boundary moves with the frames
        assert k[0, : rows // 2 - 1].min() >= 190 and k[0, rows // 2 + 1 :].max() <= 10
