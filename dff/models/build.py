"""Builders: the few names a YAML config selects, mapped to typed constructors."""
from __future__ import annotations

from .accel import FUSIONS, AccelSegmenter, UpdateBranch
from .backbones import BACKBONES, build_backbone
from .dff import DFFSegmenter
from .flow import FLOW_NETS, build_flow_net

ARCHS = ("dff", "accel")


def build_model(num_classes: int, backbone: str = "resnet18", output_stride: int = 8,
                flow: str = "flownets_lite", flow_width: float = 1.0, flow_scale: float = 0.5,
                raft_updates: int = 6,
                dis_preset: str = "fast", feat_channels: int = 256, scale_field: bool = True,
                pretrained: str | None = None, padding_mode: str = "border",
                propagation: str = "direct", arch: str = "dff", update_backbone: str = "resnet18",
                update_output_stride: int = 16, update_channels: int = 128, update_kernel: int = 3,
                update_scale: float = 1.0,
                fusion: str = "score") -> DFFSegmenter:
    """Assemble a DFFSegmenter, or an AccelSegmenter when arch is "accel".

    Args:
        num_classes: segmentation classes.
        backbone: one of BACKBONES.
        output_stride: 8 or 16 (32 for a plain FCN).
        flow: one of FLOW_NETS.
        flow_width: channel multiplier of flownets_lite.
        flow_scale: the flow network sees the frames resized by this factor (not zero/oracle).
        raft_updates: recurrent updates of raft_small.
        dis_preset: DIS preset (ultrafast, fast, medium).
        feat_channels: channels of the DFF feature conv (the warped tensor).
        scale_field: learn DFF's scale field (otherwise features are warped only).
        pretrained: None, or "imagenet" for torchvision's ImageNet backbone weights.
        padding_mode: warp padding, "zeros" or "border".
        propagation: "direct" (DFF: key -> frame) or "chained" (Accel: frame -> frame).
        arch: "dff" or "accel" (adds an update branch and fusion).
        update_backbone: accel: the update branch's backbone (one of BACKBONES).
        update_output_stride: accel: its output stride.
        update_channels: accel: its feature channels.
        update_kernel: accel: kernel size of its feature conv (3 or 1).
        update_scale: accel: the update branch sees the frame resized by this factor.
        fusion: accel: "score" or "feature".
    """
    if pretrained not in (None, "imagenet"):
        raise ValueError(f"model.pretrained must be null or 'imagenet', got {pretrained!r}")
    if arch not in ARCHS:
        raise ValueError(f"unknown model.arch {arch!r}; valid: {', '.join(ARCHS)}")
    net = build_backbone(backbone, output_stride, pretrained == "imagenet")
    flow_net = build_flow_net(flow, feat_channels if scale_field else 0, flow_width, raft_updates,
                              dis_preset, flow_scale)
    if arch == "dff":
        return DFFSegmenter(net, flow_net, num_classes, feat_channels, padding_mode, propagation)
    update = UpdateBranch(update_backbone, num_classes, update_output_stride, update_channels,
                          pretrained == "imagenet", update_kernel, update_scale)
    return AccelSegmenter(net, flow_net, update, num_classes, feat_channels, padding_mode, propagation,
                          fusion)


__all__ = ["ARCHS", "BACKBONES", "FLOW_NETS", "FUSIONS", "build_flow_net", "build_model"]
