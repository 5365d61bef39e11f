"""The contract every flow network keeps, stated and checked here once.

    flow, scale = flow_net(current, key, out_size)

- current, key: (N, 3, H, W) float RGB in [0, 1], the same shape (each net normalises for itself);
- flow: (N, 2, *out_size) in pixels of the out_size grid (the feature grid it is applied on),
  channel 0 = x, pointing from the current frame into the key: current[p] ~ key[p + flow[p]];
- scale: DFF's scale field (N, C, *out_size) that multiplies the warped features, or None (1).

Subclasses implement `estimate`; `forward` checks both sides of it.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...ops import resize_frames


class FlowNet(nn.Module):
    """Base of the flow networks: checks the contract around `estimate`.

    Args:
        input_scale: the frames are resized by this factor in (0, 1] before estimation
            (`resized`), so a flow net can run on smaller frames than the key network.
    """

    def __init__(self, input_scale: float = 1.0):
        super().__init__()
        if not 0.0 < input_scale <= 1.0:
            raise ValueError(f"model.flow_scale must be in (0, 1], got {input_scale}")
        self.input_scale = input_scale

    def resized(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames at the net's input scale."""
        return resize_frames(frames, self.input_scale)

    def estimate(self, current: torch.Tensor, key: torch.Tensor, out_size: tuple[int, int]):
        """(flow, scale or None) as the module docstring states."""
        raise NotImplementedError

    def forward(self, current: torch.Tensor, key: torch.Tensor, out_size) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flow current -> key in pixels of out_size, and the scale field or None."""
        out_size = (int(out_size[0]), int(out_size[1]))
        if current.dim() != 4 or current.shape[1] != 3 or current.shape != key.shape:
            raise ValueError(f"{type(self).__name__}: frames must be (N, 3, H, W) of one shape, got "
                             f"{tuple(current.shape)} and {tuple(key.shape)}")
        flow, scale = self.estimate(current, key, out_size)
        n = current.shape[0]
        if flow.shape != (n, 2, *out_size) or (scale is not None and (scale.shape[0] != n or scale.shape[-2:] != out_size)):
            raise RuntimeError(f"{type(self).__name__} broke the flow contract: flow {tuple(flow.shape)}, scale "
                               f"{None if scale is None else tuple(scale.shape)} for out_size {out_size}")
        return flow, scale
