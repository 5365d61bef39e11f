"""Paired transforms: one random draw applied to every frame of a sample and its label.

Frames are a uint8 stack (T, 3, H, W) (key ... current); the label is (H, W). Randomness comes
only from the `rng` passed in, so a sample is reproducible from its seed in any process or worker.
"""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torchvision import tv_tensors


def pad_to(x: torch.Tensor, h: int, w: int, value: int) -> torch.Tensor:
    """Pad the last two dims at bottom/right up to (h, w)."""
    ph, pw = max(0, h - x.shape[-2]), max(0, w - x.shape[-1])
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), value=value)


def paired_scale(frames: torch.Tensor, label: torch.Tensor, scale_range, rng: random.Random):
    """Same random resize of all frames (bilinear) and the label (nearest); (frames, label)."""
    s = rng.uniform(float(scale_range[0]), float(scale_range[1]))
    h, w = label.shape[-2:]
    size = [max(1, round(h * s)), max(1, round(w * s))]
    if size == [h, w]:
        return frames, label
    frames = TF.resize(frames, size, antialias=s < 1)
    label = TF.resize(tv_tensors.Mask(label), size, interpolation=TF.InterpolationMode.NEAREST)
    return frames, label.as_subclass(torch.Tensor)


def paired_crop_flip(frames: torch.Tensor, label: torch.Tensor, crop_size, rng: random.Random,
                     ignore_index: int = 255):
    """Same random crop (label padded with ignore_index) and horizontal flip on all; (frames, label)."""
    ch, cw = int(crop_size[0]), int(crop_size[1])
    frames, label = pad_to(frames, ch, cw, 0), pad_to(label, ch, cw, ignore_index)
    h, w = label.shape[-2:]
    y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
    frames, label = TF.crop(frames, y, x, ch, cw), TF.crop(tv_tensors.Mask(label), y, x, ch, cw)
    if rng.random() < 0.5:
        frames, label = TF.horizontal_flip(frames), TF.horizontal_flip(label)
    return frames, label.as_subclass(torch.Tensor)


def clip_jitter(frames: torch.Tensor, strength: float, rng: random.Random) -> torch.Tensor:
    """One photometric draw for the whole clip: brightness, contrast and saturation factors
    in [1 - strength, 1 + strength], applied in a random order (frames stay consistent).
    """
    if strength <= 0:
        return frames
    ops = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation]
    factors = [rng.uniform(max(0.0, 1 - strength), 1 + strength) for _ in ops]
    order = list(range(len(ops)))
    rng.shuffle(order)
    for i in order:
        frames = ops[i](frames, factors[i])
    return frames


def flow_crop_flip(frames: torch.Tensor, flow: torch.Tensor, crop_size, rng: random.Random):
    """Same random crop and horizontal flip on frames (T, 3, H, W) and their flow target (3, H, W):
    u, v in pixels and a valid mask (padding is invalid). Mirroring x negates u."""
    ch, cw = int(crop_size[0]), int(crop_size[1])
    frames, flow = pad_to(frames, ch, cw, 0), pad_to(flow, ch, cw, 0)
    h, w = flow.shape[-2:]
    y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
    frames, flow = TF.crop(frames, y, x, ch, cw), flow[:, y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        frames, flow = TF.horizontal_flip(frames), flow.flip(-1) * torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    return frames, flow
