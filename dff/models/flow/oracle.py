"""Ground-truth flow of dff's synthetic sets, for analysis: what propagation gives with perfect motion."""
from __future__ import annotations

import hashlib

import torch

from ...ops import flow_warp, resize_flow
from .base import FlowNet


class OracleFlow(FlowNet):
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

    def estimate(self, current, key, out_size):
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
