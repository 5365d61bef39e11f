"""OpenCV's DIS optical flow (Kroeger et al., ECCV 2016): no learning, a few ms on the CPU."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ...ops import resize_flow
from .base import FlowNet

DIS_PRESETS = {"ultrafast": cv2.DISOpticalFlow_PRESET_ULTRAFAST,
               "fast": cv2.DISOpticalFlow_PRESET_FAST,
               "medium": cv2.DISOpticalFlow_PRESET_MEDIUM}


def gray_uint8(frames: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) [0, 1] RGB to (N, H, W) uint8 luma, as DIS takes it."""
    w = frames.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (frames * w).sum(1).mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


class DISFlow(FlowNet):
    """DIS flow; inference only (not differentiable).

    Args:
        preset: "ultrafast", "fast" or "medium".
        input_scale: resolution factor applied to the frames before the flow is computed.
    """

    def __init__(self, preset: str = "fast", input_scale: float = 0.5):
        super().__init__(input_scale)
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; valid: {', '.join(DIS_PRESETS)}")
        self.preset = preset
        self.dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def estimate(self, current, key, out_size):
        if self.training and torch.is_grad_enabled():
            raise RuntimeError("model.flow=dis is not differentiable and cannot be trained; "
                               "train with flownets_lite or raft_small and swap it in at eval/infer")
        current, key = self.resized(current), self.resized(key)
        # DIS calc(I0, I1) returns f with I0(p) ~ I1(p + f(p)): exactly current -> key.
        flows = [self.dis.calc(c, k, None) for c, k in zip(gray_uint8(current), gray_uint8(key))]
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(current.device)
        return resize_flow(flow, out_size), None
