"""Scores binned by how far the scene moved between a frame and its key: mean DIS flow magnitude."""
from __future__ import annotations

import bisect
import math

import torch

from ..models.flow.dis import DISFlow
from .metrics import ConfusionMatrix


class MotionBins:
    """Confusion matrices of (frame, key) pairs in bins [0, e0), [e0, e1), ..., [e_last, inf) of motion.

    Motion is the mean magnitude of DIS flow from the frame to its key, in pixels of the frame as
    evaluated (input_scale 1: a measure of the scene, not of the model's own flow net).

    Args:
        edges: increasing positive bin edges in pixels, e.g. (2.0, 8.0).
        teacher: also keep each bin's agreement with the teacher (the key output on the frame).
    """

    def __init__(self, edges, num_classes: int, ignore_index: int = 255, teacher: bool = False):
        self.edges = [float(e) for e in edges]
        if not self.edges or self.edges[0] <= 0 or any(a >= b for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError(f"motion bins must be increasing positive pixel edges (e.g. 2,8); got {list(edges)}")
        n = len(self.edges) + 1

        def matrices():
            return [ConfusionMatrix(num_classes, ignore_index) for _ in range(n)]
        self.labels, self.pairs = matrices(), [0] * n
        self.agree, self.agree_pairs = (matrices() if teacher else None), [0] * n
        self.dis = DISFlow(input_scale=1.0).eval()

    def magnitudes(self, current: torch.Tensor, key: torch.Tensor) -> list[float]:
        """Mean flow magnitude from each frame of current (N, 3, H, W) to key (1, 3, H, W)."""
        flow, _ = self.dis(current, key.expand_as(current), current.shape[-2:])
        return flow.norm(dim=1).mean((1, 2)).tolist()

    def add(self, magnitude: float, pred: torch.Tensor, label: torch.Tensor | None,
            teacher: torch.Tensor | None) -> None:
        """Score one pair's class map against its label and/or the teacher's map (None: not scored)."""
        b = bisect.bisect_right(self.edges, magnitude)
        if label is not None:
            self.labels[b].update(pred, label)
            self.pairs[b] += 1
        if teacher is not None:
            self.agree[b].update(pred, teacher)
            self.agree_pairs[b] += 1

    def result(self) -> list[dict]:
        """One dict per bin: low, high (None: unbounded), pairs, miou (None without pairs), and
        agreement_pairs, agreement with a teacher."""
        lows, highs = [0.0] + self.edges, self.edges + [math.inf]
        out = []
        for b, (low, high) in enumerate(zip(lows, highs)):
            row = {"low": low, "high": None if high == math.inf else high, "pairs": self.pairs[b],
                   "miou": self.labels[b].miou() if self.pairs[b] else None}
            if self.agree is not None:
                row["agreement_pairs"] = self.agree_pairs[b]
                row["agreement"] = self.agree[b].miou() if self.agree_pairs[b] else None
            out.append(row)
        return out
