"""Differentiable ops: flow warping and flow resizing."""
from .warp import flow_warp, normalize_coords, pixel_grid, resize_flow, sample_at

__all__ = ["flow_warp", "normalize_coords", "pixel_grid", "resize_flow", "sample_at"]
