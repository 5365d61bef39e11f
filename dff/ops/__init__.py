"""Differentiable ops: flow warping, flow resizing, frame resizing and a dilated depthwise conv that
trains faster on CPU."""
from .depthwise import DilatedDepthwiseConv2d, fast_dilated_depthwise
from .resize import resize_frames
from .warp import flow_warp, normalize_coords, pixel_grid, resize_flow, sample_at

__all__ = ["DilatedDepthwiseConv2d", "fast_dilated_depthwise", "flow_warp", "normalize_coords", "pixel_grid",
           "resize_flow", "resize_frames", "sample_at"]
