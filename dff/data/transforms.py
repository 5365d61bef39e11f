"""Paired transforms: one random draw applied to every frame of a sample and its label.

Frames are a uint8 stack (T, 3, H, W) (key ... current); the label is (H, W).
"""
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


def paired_scale(frames: torch.Tensor, label: torch.Tensor, scale_range):
    """Same random resize of all frames (bilinear) and the label (nearest)."""
    s = random.uniform(float(scale_range[0]), float(scale_range[1]))
    h, w = label.shape[-2:]
    size = (max(1, round(h * s)), max(1, round(w * s)))
    if size == (h, w):
        return frames, label
    out = F.interpolate(frames.float(), size=size, mode="bilinear", align_corners=False, antialias=s < 1)
    out = out.round_().clamp_(0, 255).to(torch.uint8)
    label = F.interpolate(label[None, None].float(), size=size, mode="nearest")[0, 0].to(label.dtype)
    return out, label


def paired_crop_flip(frames: torch.Tensor, label: torch.Tensor, crop_size, ignore_index: int = 255):
    """Same random crop (padding the label with ignore_index) and horizontal flip on all."""
    ch, cw = int(crop_size[0]), int(crop_size[1])
    frames, label = pad_to(frames, ch, cw, 0), pad_to(label, ch, cw, ignore_index)
    h, w = label.shape[-2:]
    y, x = random.randint(0, h - ch), random.randint(0, w - cw)
    frames, label = frames[..., y:y + ch, x:x + cw], label[y:y + ch, x:x + cw]
    if random.random() < 0.5:
        frames, label = frames.flip(-1), label.flip(-1)
    return frames, label
