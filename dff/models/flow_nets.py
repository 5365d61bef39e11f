"""Other flow networks behind FlowNetSLite's interface.

Each maps (current, key, out_size) on [0, 1] RGB frames to (flow, scale): flow (N, 2, *out_size)
in pixels of out_size, channel 0 = x, from the current frame into the key frame
(current[p] ~ key[p + flow[p]]); scale is None (no learned scale field: scale 1).
"""
from __future__ import annotations

import hashlib

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops import flow_warp, resize_flow

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


class OracleFlow(nn.Module):
    """Ground-truth flow from the synthetic generator, for analysis (evaluation only).

    The engine registers every clip's stored frames and one-step backward flows (flow[t]:
    frame t -> t-1, on the stored grid) with `add_clip`; forward() recognises the current and
    key frames by their bytes and composes the steps from current back to the key:
    F <- F + f_j(p + F(p)) for j = t .. s+1.
    """

    def __init__(self):
        super().__init__()
        self.index: dict[bytes, tuple[int, int]] = {}
        self.flows: list[dict[int, torch.Tensor]] = []

    @staticmethod
    def _fingerprint(frame: torch.Tensor) -> bytes:
        """Digest of a uint8 (3, H, W) frame (a [0, 1] float frame is mapped back exactly)."""
        if frame.dtype != torch.uint8:
            frame = frame.mul(255).round().clamp(0, 255).to(torch.uint8)
        return hashlib.blake2b(frame.cpu().contiguous().numpy().tobytes(), digest_size=16).digest()

    def add_clip(self, frames: dict[int, torch.Tensor], flows: dict[int, torch.Tensor]) -> None:
        """Register a clip: frames t -> uint8 (3, H, W), flows t -> (2, H, W) from t into t - 1."""
        c = len(self.flows)
        self.flows.append(flows)
        for t, f in frames.items():
            self.index.setdefault(self._fingerprint(f), (c, t))

    def _find(self, frame: torch.Tensor) -> tuple[int, int]:
        """(clip, frame index) of a registered frame."""
        found = self.index.get(self._fingerprint(frame))
        if found is None:
            raise ValueError("model.flow=oracle: frame is not one of the registered dataset frames; "
                             "oracle flow works in `dff eval` on the synthetic dataset only")
        return found

    def forward(self, current, key, out_size):
        if self.training and torch.is_grad_enabled():
            raise RuntimeError("model.flow=oracle is ground truth for analysis and cannot be trained; "
                               "swap it in at evaluation")
        out = []
        for cur, k in zip(current, key):
            (c, t), (c_key, s) = self._find(cur), self._find(k)
            if c != c_key or s > t:
                raise ValueError(f"model.flow=oracle: key (clip {c_key}, frame {s}) does not precede "
                                 f"the current frame (clip {c}, frame {t})")
            flow = torch.zeros(1, 2, *cur.shape[-2:], device=current.device)
            for j in range(t, s, -1):
                step = self.flows[c][j][None].to(current.device)
                flow = flow + (flow_warp(step, flow, padding_mode="border") if j < t else step)
            out.append(resize_flow(flow, out_size))
        return torch.cat(out), None
