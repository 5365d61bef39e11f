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
