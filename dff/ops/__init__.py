"""Differentiable ops: flow warping, flow resizing and frame resizing."""
from .resize import resize_frames
from .warp import flow_warp, normalize_coords, pixel_grid, resize_flow, sample_at

__all__ = ["flow_warp", "normalize_coords", "pixel_grid", "resize_flow", "resize_frames", "sample_at"]
