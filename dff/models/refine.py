"""Class scores refined on a finer grid, guided by the frame: boundaries that output stride 16 blurs.

On DAVIS val most of an output-stride-16 model's errors lie on object boundaries (72% of the wrong
pixels within 4 px of a true boundary: experiments/notes/training_recipes.md); bilinear upsampling cannot put an
edge between two feature cells. A small net on the frame itself (as DeepLabV3+'s decoder on
low-level features, but from the pixels, so propagated frames get it too) corrects the scores at
1/4 of the output size. It runs on every frame, key or propagated: 5 ms at 240x427 on 2 CPU cores,
about 8% of a Lite0 key frame.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torchvision.ops import Conv2dNormActivation

from .segmenter import upsample

REFINES = ("guided",)


def _separable(cin: int, cout: int, dilation: int) -> nn.Sequential:
    """Depthwise 3x3 (dilated) + pointwise 1x1, BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=dilation, dilation=dilation, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class GuidedRefine(nn.Module):
    """Scores (N, C, h, w) on the feature grid -> (N, C, *size), corrected at 1/4 of size.

    stem: two stride-2 3x3 convs on the frame; mix: two separable 3x3 convs (dilation 1, 2) over
    the stem's features and the scores upsampled to the stem's grid; out: a 1x1 conv to a
    correction that is upsampled to size and added to the scores upsampled there. out starts at
    zero, so an untrained refinement is exactly bilinear upsampling.

    Args:
        num_classes: C.
        channels: channels of mix.
        stem_channels: channels of the stem.
    """

    def __init__(self, num_classes: int, channels: int = 32, stem_channels: int = 16):
        super().__init__()
        self.stem = nn.Sequential(Conv2dNormActivation(3, stem_channels, 3, 2),
                                  Conv2dNormActivation(stem_channels, stem_channels, 3, 2))
        self.mix = nn.Sequential(_separable(stem_channels + num_classes, channels, 1), _separable(channels, channels, 2))
        self.out = nn.Conv2d(channels, num_classes, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, scores: torch.Tensor, frame: torch.Tensor, size) -> torch.Tensor:
        """frame: (N, 3, H, W) RGB in [0, 1] (resized to size when it differs)."""
        size = (int(size[0]), int(size[1]))
        frame = frame if tuple(frame.shape[-2:]) == size else upsample(frame, size)
        x = self.stem(frame.to(scores.dtype) * 2 - 1)
        correction = self.out(self.mix(torch.cat([x, upsample(scores, x.shape[-2:])], 1)))
        return upsample(scores, size) + upsample(correction, size)


def build_refine(name: str | None, num_classes: int) -> nn.Module | None:
    """The refinement that model.refine names, or None (bilinear upsampling)."""
    if name is None:
        return None
    if name == "guided":
        return GuidedRefine(num_classes)
    raise ValueError(f"unknown model.refine {name!r}; valid: {', '.join(REFINES)} (or null)")
