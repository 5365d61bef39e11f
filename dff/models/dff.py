"""DFF: a heavy key-frame network whose features are carried to other frames by flow."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops import flow_warp
from .backbones import IMAGENET_MEAN, IMAGENET_STD

PROPAGATIONS = ("direct", "chained")


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Feature conv (no bias: BatchNorm follows) + BatchNorm + ReLU, same spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SegHead(nn.Module):
    """Task head on the (warped) DFF features: dropout + 1x1 classifier."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.1):
        super().__init__()
        self.drop = nn.Dropout2d(dropout)
        self.cls = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """Class scores on the feature grid."""
        return self.cls(self.drop(feat))


class DFFSegmenter(nn.Module):
    """Deep Feature Flow for semantic segmentation (Zhu et al., CVPR 2017).

    key frame:   feat = feature_conv(backbone(key));  logits = head(feat)
    other frame: flow, scale = flow_net(current, key);  logits = head(warp(feat, flow) * scale)

    propagation "direct" (DFF) warps the key's features straight to each frame; "chained"
    (Accel) warps frame to frame, carrying the features along.

    Frames enter as float RGB in [0, 1], (N, 3, H, W); the backbone's normalisation happens here
    and the flow network gets the raw frames (each flow net has its own input convention), so
    every caller (training, streaming, benchmarks) feeds the same thing. Logits come back at the
    input resolution.

    Args:
        backbone: module mapping frames to features, with `out_channels` and `output_stride`.
        flow_net: module (current, key, out_size) -> (flow, scale or None) on [0, 1] frames,
            flow in pixels of out_size with channel 0 = x, from the current frame into the key.
        num_classes: number of segmentation classes.
        feat_channels: channels of the DFF feature conv (the tensor that is warped).
        padding_mode: grid_sample padding of the warp, "zeros" or "border".
        propagation: "direct" or "chained".
    """

    def __init__(self, backbone: nn.Module, flow_net: nn.Module, num_classes: int,
                 feat_channels: int = 256, padding_mode: str = "border", propagation: str = "direct"):
        super().__init__()
        if propagation not in PROPAGATIONS:
            raise ValueError(f"unknown propagation {propagation!r}; valid: {', '.join(PROPAGATIONS)}")
        self.propagation = propagation
        self.backbone = backbone
        self.feature_conv = conv_bn_relu(backbone.out_channels, feat_channels)
        self.flow_net = flow_net
        self.head = SegHead(feat_channels, num_classes)
        self.padding_mode = padding_mode
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalize(self, frame: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB to ImageNet-normalised input."""
        return (frame - self.mean) / self.std

    def key_features(self, frame: torch.Tensor) -> torch.Tensor:
        """The heavy path: backbone + feature conv on a [0, 1] frame."""
        return self.feature_conv(self.backbone(self.normalize(frame)))

    def warp(self, feat: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        """Warp key features by flow (feature-grid pixels) and apply the scale field."""
        warped = flow_warp(feat, flow, padding_mode=self.padding_mode)
        return warped if scale is None else warped * scale

    def propagate(self, feat: torch.Tensor, key: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """Features of frame `key` carried to frame `current` in one warp ([0, 1] frames)."""
        return self.warp(feat, *self.flow_net(current, key, feat.shape[-2:]))

    def advance(self, frame: torch.Tensor, state: dict) -> dict:
        """State of `frame`: the state's features warped to it (one step)."""
        return {"frame": frame, "feat": self.propagate(state["feat"], state["frame"], frame)}

    def decode(self, feat: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """Class scores on the feature grid of a propagated frame (Accel fuses here)."""
        return self.head(feat)

    @staticmethod
    def upsample(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bilinear upsampling of scores to `size`."""
        return F.interpolate(scores, size=size, mode="bilinear", align_corners=False)

    def logits(self, feat: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Head + bilinear upsampling to `size` (the key-frame path)."""
        return self.upsample(self.head(feat), size)

    def forward_key(self, frame: torch.Tensor) -> dict:
        """Run the key-frame network; the returned state is all propagation needs."""
        return {"frame": frame, "feat": self.key_features(frame)}

    def forward_state(self, state: dict, size: tuple[int, int]) -> torch.Tensor:
        """Logits of the key frame itself (the reference branch alone)."""
        return self.logits(state["feat"], size)

    def predict(self, state: dict) -> torch.Tensor:
        """Logits of a propagated state's frame."""
        return self.upsample(self.decode(state["feat"], state["frame"]), state["frame"].shape[-2:])

    def branches(self) -> dict[str, list[nn.Module]]:
        """Per-frame branches and their modules (for per-frame training of each branch)."""
        return {"reference": [self.backbone, self.feature_conv, self.head]}

    def branch_logits(self, name: str, frame: torch.Tensor) -> torch.Tensor:
        """Logits of one branch run on the frame alone."""
        return self.forward_state(self.forward_key(frame), frame.shape[-2:])

    def forward_propagate(self, frame: torch.Tensor, state: dict) -> torch.Tensor:
        """Logits of a non-key frame warped in one step from `state`."""
        return self.predict(self.advance(frame, state))

    def forward(self, clip: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """Training forward on windows clip (N, T, 3, H, W): key clip[:, 0], current clip[:, -1].

        offset (N,) counts the frames between key and current; windows whose key lies closer
        than T - 1 frames are front-padded with copies of the key. Direct propagation warps
        the key features once; chained warps through every frame of the window (a padded
        step is between two copies of the key). Where offset is 0 the key features are used
        unwarped, as on key frames; flow and warp still run on every sample so every parameter
        sees a gradient path each step.
        """
        key, current = clip[:, 0], clip[:, -1]
        key_state = state = self.forward_key(key)
        steps = range(clip.shape[1] - 1, clip.shape[1]) if self.propagation == "direct" else range(1, clip.shape[1])
        for i in steps:
            state = self.advance(clip[:, i], state)
        same = (offset == 0).view(-1, 1, 1, 1)
        key_scores = self.head(key_state["feat"])
        return self.upsample(torch.where(same, key_scores, self.decode(state["feat"], current)),
                             current.shape[-2:])
