"""Backward warping with `F.grid_sample`, with flow in pixels of the grid it is applied on.

Conventions used everywhere in dff:
- flow is (N, 2, H, W), channel 0 = x (u), channel 1 = y (v), in pixels of x's grid;
- backward warping: ``out[p] = x[p + flow[p]]`` (flow points from the output frame into x);
- pixel centres sit at integer coordinates 0..W-1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .resize import resize_antialiased

PADDING_MODES = ("zeros", "border")


def normalize_coords(coords: torch.Tensor, size: int, align_corners: bool) -> torch.Tensor:
    """Pixel coordinates (centres at 0..size-1) to grid_sample's [-1, 1] for `align_corners`."""
    if align_corners:
        # Corner pixels' centres are -1 and 1; a 1-pixel axis has only one valid sample.
        return coords * (2.0 / (size - 1)) - 1.0 if size > 1 else torch.zeros_like(coords)
    # Image edges are -1 and 1, so pixel centre x maps to (2x + 1) / size - 1.
    return (2.0 * coords + 1.0) / size - 1.0


def sample_at(
    x: torch.Tensor,
    coords: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> torch.Tensor:
    """Sample x (N,C,H,W) at absolute pixel coordinates coords (N,2,Ho,Wo) of x's grid."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if coords.dim() != 4 or coords.shape[1] != 2 or coords.shape[0] != x.shape[0]:
        raise ValueError(f"coords must be (N=={x.shape[0]}, 2, H, W), got {tuple(coords.shape)}")
    h, w = x.shape[-2:]
    gx = normalize_coords(coords[:, 0], w, align_corners)
    gy = normalize_coords(coords[:, 1], h, align_corners)
    grid = torch.stack((gx, gy), dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


def pixel_grid(n: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Identity pixel-coordinate grid (n, 2, h, w): channel 0 = x, channel 1 = y."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device, dtype=dtype),
        torch.arange(w, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack((xs, ys)).unsqueeze(0).expand(n, 2, h, w)


def flow_warp(
    x: torch.Tensor,
    flow: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> torch.Tensor:
    """Backward-warp x (N,C,H,W) by flow (N,2,H,W): ``out[p] = x[p + flow[p]]``."""
    if flow.shape[0] != x.shape[0] or flow.shape[1] != 2 or flow.shape[-2:] != x.shape[-2:]:
        raise ValueError(
            f"flow must be (N, 2, H, W) matching x {tuple(x.shape)}, got {tuple(flow.shape)}"
        )
    # Under autocast the warp stays in (at least) fp32: half-precision sampling coordinates are
    # off by a pixel or more on wide grids (bf16's 8-bit mantissa from 256 pixels on).
    dtype = torch.promote_types(torch.promote_types(x.dtype, flow.dtype), torch.float32)
    with torch.autocast(x.device.type, enabled=False):
        x, flow = x.to(dtype), flow.to(dtype)
        n, _, h, w = flow.shape
        coords = pixel_grid(n, h, w, device=flow.device, dtype=dtype) + flow
        return sample_at(x, coords, mode, padding_mode, align_corners)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample flow (N,2,H,W) to size (h, w) and rescale u by w/W and v by h/H."""
    h, w = int(size[0]), int(size[1])
    old_h, old_w = flow.shape[-2:]
    if (h, w) == (old_h, old_w):
        return flow
    # Downsampling without antialiasing aliases thin motion boundaries; upsampling needs none.
    if h < old_h or w < old_w:
        out = resize_antialiased(flow, size=(h, w))
    else:
        out = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    scale = torch.tensor([w / old_w, h / old_h], device=flow.device, dtype=flow.dtype)
    return out * scale.view(1, 2, 1, 1)
