"""The input every dff backbone receives: [0, 1] RGB frames normalised with ImageNet's mean and std."""
from __future__ import annotations

import torch
import torch.nn as nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision backbones expect this normalisation
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """[0, 1] RGB frames to the ImageNet-normalised input that torchvision's backbones expect."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return (frames - self.mean) / self.std
