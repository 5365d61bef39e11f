import random

import pytest
import torch

from dff.data.transforms import clip_jitter, pad_to, paired_crop_flip, paired_scale


def _position_sample(h, w):
    code = torch.arange(1, h * w + 1).reshape(h, w)  # 1-based: 0 marks frame padding
    return code.expand(3, h, w).clone(), code.expand(3, h, w).clone(), (code % 250).to(torch.uint8)


def test_paired_crop_flip_same_window_for_all():
    h, w, ch, cw = 20, 30, 7, 11
    key, cur, label = _position_sample(h, w)
    rng = random.Random(0)
    origins, flips = set(), 0
    for _ in range(300):
        (k, c), lab = paired_crop_flip(torch.stack((key, cur)), label, (ch, cw), rng)
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
    rng = random.Random(3)
    for _ in range(40):
        (k, c), lab = paired_crop_flip(torch.stack((key, cur)), label, crop, rng, ignore_index=200)
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


def test_paired_scale_resizes_frames_and_label_together():
    rng = random.Random(3)
    key = torch.zeros(3, 20, 30, dtype=torch.uint8)
    key[:, :10] = 200
    label = (key[0] > 0).to(torch.uint8)
    sizes = set()
    for _ in range(10):
        (k, c), lab = paired_scale(torch.stack((key, key.clone())), label, (0.5, 2.0), rng)
        assert k.shape[-2:] == lab.shape and k.dtype == torch.uint8 and torch.equal(k, c)
        assert type(lab) is torch.Tensor and lab.dtype == torch.uint8
        assert set(lab.unique().tolist()) <= {0, 1}  # nearest: no new label values
        rows = lab.shape[0]
        assert abs(lab[:, 0].sum().item() - rows / 2) <= 1  # the boundary moves with the frames
        assert k[0, : rows // 2 - 1].min() >= 190 and k[0, rows // 2 + 1 :].max() <= 10
        sizes.add(tuple(lab.shape))
    assert len(sizes) > 5


def test_clip_jitter_one_draw_for_all_frames():
    a = torch.randint(0, 256, (3, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    b = torch.randint(0, 256, (3, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    both = clip_jitter(torch.stack((a, b, a)), 0.4, random.Random(7))
    assert both.dtype == torch.uint8 and not torch.equal(both[0], a)
    assert torch.equal(both[0], both[2])
    assert torch.equal(both[1], clip_jitter(b[None], 0.4, random.Random(7))[0])
    assert torch.equal(clip_jitter(both, 0.0, random.Random(0)), both)
