"""Paired transforms: one random draw applied to every frame of a sample and its label."""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F


def pad_to(x: torch.Tensor, h: int, w: int, value: int) -> torch.Tensor:
    """Pad the last two dims at bottom/right up to (h, w)."""
    ph, pw = max(0, h - x.shape[-2]), max(0, w - x.shape[-1])
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), value=value)


def paired_scale(key: torch.Tensor, cur: torch.Tensor, label: torch.Tensor, scale_range):
    """Same random resize of uint8 frames (3, H, W; bilinear) and label (H, W; nearest)."""
    lo, hi = float(scale_range[0]), float(scale_range[1])
    s = random.uniform(lo, hi)
    h, w = label.shape[-2:]
    size = (max(1, round(h * s)), max(1, round(w * s)))
    if size == (h, w):
        return key, cur, label
    frames = torch.stack((key, cur)).float()
    frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=s < 1)
    frames = frames.round_().clamp_(0, 255).to(torch.uint8)
    label = F.interpolate(label[None, None].float(), size=size, mode="nearest")[0, 0].to(label.dtype)
    return frames[0], frames[1], label


def paired_crop_flip(key: torch.Tensor, cur: torch.Tensor, label: torch.Tensor,
                     crop_size, ignore_index: int = 255):
    """Same random crop (padding label with ignore_index) and horizontal flip on all three."""
    ch, cw = int(crop_size[0]), int(crop_size[1])
    key, cur = pad_to(key, ch, cw, 0), pad_to(cur, ch, cw, 0)
    label = pad_to(label, ch, cw, ignore_index)
    h, w = label.shape[-2:]
    y, x = random.randint(0, h - ch), random.randint(0, w - cw)
    crop = (..., slice(y, y + ch), slice(x, x + cw))
    key, cur, label = key[crop], cur[crop], label[crop]
    if random.random() < 0.5:
        key, cur, label = key.flip(-1), cur.flip(-1), label.flip(-1)
    return key, cur, label
