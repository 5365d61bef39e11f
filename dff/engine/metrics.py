"""Confusion-matrix mIoU."""
from __future__ import annotations

import torch


def class_map(scores: torch.Tensor, dim: int) -> torch.Tensor:
    """Class ids along dim: the first maximum, as argmax gives, but argmax over a non-last dim
    is ~30x slower on CPU here (28 ms vs 0.9 ms for 2 x 240 x 427 scores)."""
    return scores.max(dim).indices


class ConfusionMatrix:
    """Accumulates a num_classes x num_classes confusion matrix (rows = ground truth)."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add predicted and true class ids of the same shape; ignore_index pixels are skipped."""
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        keep = target != self.ignore_index
        t, p = target[keep].long().cpu(), pred[keep].long().cpu()
        if t.numel() and (t.min() < 0 or t.max() >= self.num_classes):
            raise ValueError(f"target ids outside [0, {self.num_classes}): {t.unique().tolist()[:8]}")
        n = self.num_classes
        self.mat += torch.bincount(t * n + p, minlength=n * n).view(n, n)

    def iou(self) -> torch.Tensor:
        """Per-class IoU; NaN for classes absent from both prediction and ground truth."""
        m = self.mat.double()
        inter = m.diag()
        union = m.sum(0) + m.sum(1) - inter
        return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(inter, float("nan")))

    def miou(self) -> float:
        """Mean IoU over classes that occur."""
        iou = self.iou()
        return float(iou[~iou.isnan()].mean()) if (~iou.isnan()).any() else float("nan")
