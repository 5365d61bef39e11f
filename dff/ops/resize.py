"""Resizing frames before a network: the one place flow nets and the update branch shrink input."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_frames(frames: torch.Tensor, scale: float = 1.0, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Frames (N, C, H, W) resized by `scale`, or to `size` when given: bilinear and antialiased
    (a downscale without it aliases fine texture). Returned as they are at scale 1 without size."""
    if size is None and scale == 1.0:
        return frames
    return F.interpolate(frames, size=size, scale_factor=None if size is not None else scale, mode="bilinear",
                         align_corners=False, antialias=True)
