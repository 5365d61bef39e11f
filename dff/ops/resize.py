"""Resizing frames before a network: the one place flow nets and the update branch shrink input;
and the antialiased bilinear resize they and the flow resize share."""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

# ONNX's Resize has no antialiasing before opset 18: `resizes_as_matmul` turns every antialiased
# resize into two products with the interpolation matrices torch itself computes, held as constants.
_MATRICES: dict | None = None


@contextmanager
def resizes_as_matmul():
    """Inside, antialiased resizes multiply by cached interpolation matrices (the weights of
    F.interpolate, taken from it): a graph traced after one eager pass holds them as constants."""
    global _MATRICES
    previous, _MATRICES = _MATRICES, {}
    try:
        yield
    finally:
        _MATRICES = previous


def _matrix(n: int, out: int | None, scale: float | None, like: torch.Tensor) -> torch.Tensor:
    """(n, n_out): column j holds the weights of the n input pixels in output pixel j, those of a
    horizontal pass (the vertical one uses the same 1-D weights)."""
    key = (n, out, scale, like.dtype, like.device)
    if key not in _MATRICES:
        rows = torch.eye(n, dtype=like.dtype, device=like.device).view(n, 1, 1, n)  # n images of 1 x n pixels
        res = F.interpolate(rows, size=None if out is None else (1, out), scale_factor=None if out is not None
                            else (1.0, scale), mode="bilinear", align_corners=False, antialias=True)
        _MATRICES[key] = res.reshape(n, -1).detach()
    return _MATRICES[key]


def resize_antialiased(x: torch.Tensor, size: tuple[int, int] | None = None, scale: float | None = None) -> torch.Tensor:
    """Bilinear, antialiased resize of (N, C, H, W) to `size`, or by `scale` (F.interpolate's
    scale_factor semantics)."""
    if _MATRICES is None:
        return F.interpolate(x, size=size, scale_factor=None if size is not None else scale, mode="bilinear",
                             align_corners=False, antialias=True)
    h, w = int(x.shape[-2]), int(x.shape[-1])  # plain ints also under tracing: the graph's size is fixed
    out_h, out_w = (None, None) if size is None else (int(size[0]), int(size[1]))
    mh = _matrix(h, out_h, None if size is not None else scale, x)
    mw = _matrix(w, out_w, None if size is not None else scale, x)
    return torch.matmul(mh.t(), torch.matmul(x, mw))


def resize_frames(frames: torch.Tensor, scale: float = 1.0, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Frames (N, C, H, W) resized by `scale`, or to `size` when given: bilinear and antialiased
    (a downscale without it aliases fine texture). Returned as they are at scale 1 without size."""
    if size is None and scale == 1.0:
        return frames
    return resize_antialiased(frames, size=size, scale=scale)
