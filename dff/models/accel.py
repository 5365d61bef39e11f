"""Accel (Jain, Wang, Gonzalez, CVPR 2019): flow-propagated reference + a cheap update branch."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..ops import resize_frames
from .backbones import build_backbone
from .dff import DFFSegmenter
from .heads import SegHead, conv_bn_relu
from .normalize import Normalize
from .segmenter import State, upsample

FUSIONS = ("score", "feature")


class UpdateBranch(nn.Module):
    """Cheap per-frame segmentation net run on every non-key frame: backbone, feature conv, head.

    Takes [0, 1] RGB frames, as every dff model does.

    Args:
        backbone: resnet18/34/50 or mobilenet_v3_large/small (torchvision).
        num_classes: segmentation classes.
        output_stride: backbone output stride.
        feat_channels: channels of its feature conv (what feature fusion concatenates).
        pretrained: load ImageNet weights into the backbone.
        kernel_size: of the feature conv, 3 or 1 (1 keeps a light backbone's branch light: a 3x3
            conv from MobileNetV3's 960 channels costs more than the backbone itself).
        input_scale: the frame is resized by this factor first (0.5: a quarter of the pixels,
            so about a quarter of the cost; its scores are upsampled to the reference grid).
    """

    def __init__(self, backbone: str = "resnet18", num_classes: int = 2, output_stride: int = 16,
                 feat_channels: int = 128, pretrained: bool = False, kernel_size: int = 3,
                 input_scale: float = 1.0):
        super().__init__()
        if kernel_size not in (1, 3):
            raise ValueError(f"update branch kernel_size must be 1 or 3, got {kernel_size}")
        if not 0.0 < input_scale <= 1.0:
            raise ValueError(f"update branch input_scale must be in (0, 1], got {input_scale}")
        self.input_scale = input_scale
        self.normalize = Normalize()
        self.backbone = build_backbone(backbone, output_stride, pretrained)
        self.feature_conv = conv_bn_relu(self.backbone.out_channels, feat_channels, kernel_size)
        self.head = SegHead(feat_channels, num_classes)
        self.feat_channels = feat_channels

    def features(self, frame: torch.Tensor) -> torch.Tensor:
        """Features of a frame on the branch's own grid."""
        # normalised, then resized: the order the trained models saw (the other rounds differently)
        return self.feature_conv(self.backbone(resize_frames(self.normalize(frame), self.input_scale)))

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        """Class scores of a frame on the branch's own grid."""
        return self.head(self.features(frame))


def fusion_conv(mode: str, num_classes: int, feat_channels: int, update_channels: int) -> nn.Conv2d:
    """Accel's fusion: a 1x1 conv over [reference, update] scores ("score": 2C -> C) or features
    ("feature": feat + update channels -> feat), passing its reference part through at first:
    fusion starts as DFF and learns how much to trust the update."""
    if mode not in FUSIONS:
        raise ValueError(f"unknown fusion {mode!r}; valid: {', '.join(FUSIONS)}")
    n = num_classes if mode == "score" else feat_channels
    conv = nn.Conv2d(2 * num_classes if mode == "score" else feat_channels + update_channels, n, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    with torch.no_grad():
        conv.weight[:, :n, 0, 0] = torch.eye(n)
    return conv


class AccelSegmenter(DFFSegmenter):
    """DFF's propagated reference branch fused with an update branch on the current frame.

    score fusion:   logits = conv1x1([head(warped ref features), update scores])      (2C -> C)
    feature fusion: logits = head(conv1x1([warped ref features, update features]))
    Key frames give the reference branch alone; every propagated frame (training, evaluation,
    streaming) gives the fused output.

    Args:
        backbone, feature_conv, flow_net, head, padding_mode, propagation, refine, key_flip: as
            DFFSegmenter (key_flip: the key frames' reference features only).
        update: the update branch.
        fusion: the 1x1 conv (fusion_conv makes one that starts as the reference branch alone).
        fusion_mode: "score" or "feature".
    """

    has_update_branch = True
    branches = {**DFFSegmenter.branches, "update": ("update",)}

    def __init__(self, backbone: nn.Module, feature_conv: nn.Module, flow_net: nn.Module, head: nn.Module,
                 update: UpdateBranch, fusion: nn.Conv2d, fusion_mode: str = "score", padding_mode: str = "border",
                 propagation: str = "direct", refine: nn.Module | None = None, key_flip: bool = False):
        super().__init__(backbone, feature_conv, flow_net, head, padding_mode, propagation, refine, key_flip)
        if fusion_mode not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion_mode!r}; valid: {', '.join(FUSIONS)}")
        self.fusion_mode = fusion_mode
        self.update = update
        self.fusion = fusion

    def update_output(self, frame: torch.Tensor, size) -> torch.Tensor:
        """What fusion takes from the update branch (scores or features), on the grid `size`."""
        return upsample(self.update(frame) if self.fusion_mode == "score" else self.update.features(frame), size)

    def fuse(self, features: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        """Fused class scores from warped reference features and the update branch's output."""
        if self.fusion_mode == "score":
            return self.fusion(torch.cat([self.head(features), update], 1))
        return self.head(self.fusion(torch.cat([features, update], 1)))

    def _decode(self, state: State) -> torch.Tensor:
        return self.fuse(state.features, self.update_output(state.frame, state.features.shape[-2:]))

    def branch_logits(self, name: str, frame: torch.Tensor) -> torch.Tensor:
        """Logits of the reference or the update branch on the frame alone."""
        if name == "update":
            return upsample(self.update(frame), frame.shape[-2:])
        return super().branch_logits(name, frame)
