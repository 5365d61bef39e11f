"""The small layers every model shares: the feature conv (or a context module in its place) and the head."""
from __future__ import annotations

import torch
import torch.nn as nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Feature conv (no bias: BatchNorm follows) + BatchNorm + ReLU, same spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


CONTEXTS = ("aspp",)


class ASPP(nn.Module):
    """DeepLabV3's atrous spatial pyramid pooling with separable convs, as the feature conv.

    A 3x3 feature conv sees 3x3 cells of the stride-16 grid; the branches here see the whole frame
    (image pooling) and the cells `rates` apart, so the features can tell the object from look-alikes
    elsewhere. Branches: 1x1 conv; per rate a depthwise 3x3 dilated conv + 1x1; the global mean +
    1x1 (no BatchNorm: it is one value per channel and image). Their outputs concatenated, projected
    by a 1x1 conv. The rates suit stride 16 at a 240-480 px short side (15-30 cells).

    Args:
        in_channels: the backbone's channels.
        out_channels: the features' channels (the tensor DFF warps).
        rates: dilations of the separable branches.
    """

    def __init__(self, in_channels: int, out_channels: int, rates: tuple[int, ...] = (3, 6, 9)):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(in_channels, out_channels, 1)] + [nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=r, dilation=r, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True), conv_bn_relu(in_channels, out_channels, 1))
            for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1),
                                  nn.ReLU(inplace=True))
        self.project = conv_bn_relu(out_channels * (len(rates) + 2), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, h, w) -> (N, out_channels, h, w)."""
        pooled = self.pool(x).expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], 1))


def feature_conv(in_channels: int, out_channels: int, context: str | None = None) -> nn.Module:
    """The layer between the backbone and the warped features: a 3x3 conv, or the context module named."""
    if context is None:
        return conv_bn_relu(in_channels, out_channels)
    if context == "aspp":
        return ASPP(in_channels, out_channels)
    raise ValueError(f"unknown model.context {context!r}; valid: {', '.join(CONTEXTS)} (or null)")


class SegHead(nn.Module):
    """Task head on the (warped) features: dropout + 1x1 classifier."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.1):
        super().__init__()
        self.drop = nn.Dropout2d(dropout)
        self.cls = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """Class scores on the feature grid."""
        return self.cls(self.drop(feat))
