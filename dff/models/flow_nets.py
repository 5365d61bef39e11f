"""Other flow networks behind FlowNetSLite's interface.

Each maps (current, key, out_size) on [0, 1] RGB frames to (flow, scale): flow (N, 2, *out_size)
in pixels of out_size, channel 0 = x, from the current frame into the key frame
(current[p] ~ key[p + flow[p]]); scale is None (no learned scale field: scale 1).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops import resize_flow

DIS_PRESETS = {"ultrafast": cv2.DISOpticalFlow_PRESET_ULTRAFAST,
               "fast": cv2.DISOpticalFlow_PRESET_FAST,
               "medium": cv2.DISOpticalFlow_PRESET_MEDIUM}


class ZeroFlow(nn.Module):
    """No motion: key features are copied as they are (the naive-propagation baseline)."""

    def forward(self, current, key, out_size):
        n = current.shape[0]
        return current.new_zeros(n, 2, *out_size), None


class DISFlow(nn.Module):
    """OpenCV's DIS optical flow (Kroeger et al., ECCV 2016) on the CPU; inference only.

    Args:
        preset: "ultrafast", "fast" or "medium".
        input_scale: resolution factor applied to the frames before the flow is computed.
    """

    def __init__(self, preset: str = "fast", input_scale: float = 0.5):
        super().__init__()
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; valid: {', '.join(DIS_PRESETS)}")
        self.preset, self.input_scale = preset, input_scale
        self.dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    @staticmethod
    def _gray(frames: torch.Tensor) -> np.ndarray:
        """(N, 3, H, W) [0, 1] to (N, H, W) uint8 luma."""
        w = frames.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (frames * w).sum(1).mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()

    def forward(self, current, key, out_size):
        if self.training and torch.is_grad_enabled():
            raise RuntimeError("model.flow=dis is not differentiable and cannot be trained; "
                               "train with flownets_lite or raft_small and swap it in at eval/infer")
        if self.input_scale != 1.0:
            current, key = (F.interpolate(x, scale_factor=self.input_scale, mode="bilinear",
                                          align_corners=False, antialias=True) for x in (current, key))
        # DIS calc(I0, I1) returns f with I0(p) ~ I1(p + f(p)): exactly current -> key.
        flows = [self.dis.calc(c, k, None) for c, k in zip(self._gray(current), self._gray(key))]
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(current.device)
        return resize_flow(flow, out_size), None


class RAFTSmallFlow(nn.Module):
    """torchvision's RAFT-small, trainable; frames resized to sides divisible by 8, >= 128.

    Args:
        num_flow_updates: recurrent refinement steps.
        input_scale: resolution factor applied to the frames before RAFT.
    """

    def __init__(self, num_flow_updates: int = 6, input_scale: float = 0.5):
        super().__init__()
        from torchvision.models.optical_flow import raft_small

        self.raft = raft_small(weights=None)
        self.num_flow_updates, self.input_scale = num_flow_updates, input_scale

    def forward(self, current, key, out_size):
        h, w = current.shape[-2:]
        # RAFT needs sides divisible by 8 and >= 128 (its correlation pyramid); resize_flow
        # accounts for the changed grid.
        size = tuple(max(128, round(n * self.input_scale / 8) * 8) for n in (h, w))
        c, k = (F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True) * 2 - 1
                for x in (current, key))
        flow = self.raft(c, k, num_flow_updates=self.num_flow_updates)[-1]
        return resize_flow(flow, out_size), None
