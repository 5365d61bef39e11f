"""The small layers every model shares: the feature conv and the segmentation head."""
from __future__ import annotations

import torch
import torch.nn as nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Feature conv (no bias: BatchNorm follows) + BatchNorm + ReLU, same spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SegHead(nn.Module):
    """Task head on the (warped) features: dropout + 1x1 classifier."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.1):
        super().__init__()
        self.drop = nn.Dropout2d(dropout)
        self.cls = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """Class scores on the feature grid."""
        return self.cls(self.drop(feat))
