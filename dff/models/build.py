"""Builders: the few names a YAML config selects, mapped to typed constructors."""
from __future__ import annotations

import torch.nn as nn

from .accel import FUSIONS, AccelSegmenter, UpdateBranch, fusion_conv
from .backbones import BACKBONES, build_backbone
from .dff import DFFSegmenter
from .flow import FLOW_NETS, build_flow_net
from .heads import SegHead, conv_bn_relu
from .pretrained import key_network as key_network_of
from .refine import REFINES, build_refine

ARCHS = ("dff", "accel")


def build_model(num_classes: int, backbone: str = "resnet18", output_stride: int = 8,
                flow: str = "flownets_lite", flow_width: float = 1.0, flow_scale: float = 0.5,
                raft_updates: int = 6,
                dis_preset: str = "fast", feat_channels: int = 256, scale_field: bool = True,
                pretrained: str | None = None, padding_mode: str = "border",
                propagation: str = "direct", arch: str = "dff", update_backbone: str = "resnet18",
                update_output_stride: int = 16, update_channels: int = 128, update_kernel: int = 3,
                update_scale: float = 1.0,
                fusion: str = "score", key_network=None, refine: str | None = None,
                key_flip: bool = False) -> DFFSegmenter:
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
        pretrained: None; "imagenet": ImageNet backbone weights (torchvision's, or efficientnet_lite0's
            from its package); "default": a torchvision key network's own weights.
        padding_mode: warp padding, "zeros" or "border".
        propagation: "direct" (DFF: key -> frame) or "chained" (Accel: frame -> frame).
        arch: "dff" or "accel" (adds an update branch and fusion).
        update_backbone: accel: the update branch's backbone (one of BACKBONES).
        update_output_stride: accel: its output stride.
        update_channels: accel: its feature channels.
        update_kernel: accel: kernel size of its feature conv (3 or 1).
        update_scale: accel: the update branch sees the frame resized by this factor.
        fusion: accel: "score" or "feature".
        key_network: a pretrained segmenter as the key network instead of backbone, feature conv
            and head ("torchvision:<name>", "hf:<hub id or folder>" or a pretrained.KeyNetwork);
            num_classes must then be its own.
        refine: None (scores upsampled bilinearly) or one of REFINES ("guided": corrected on a finer grid
            guided by the frame, refine.GuidedRefine).
        key_flip: in eval mode, key frames average the features of the frame and of its mirror image
            (DFFSegmenter).
    """
    if pretrained not in (None, "imagenet", "default"):
        raise ValueError(f"model.pretrained must be null, 'imagenet' or 'default', got {pretrained!r}")
    if arch not in ARCHS:
        raise ValueError(f"unknown model.arch {arch!r}; valid: {', '.join(ARCHS)}")
    kn = key_network_of(key_network, num_classes, pretrained == "default") if key_network else None
    net = kn.key_path if kn else build_backbone(backbone, output_stride, pretrained == "imagenet")
    channels = kn.channels if kn else feat_channels  # of the warped features
    flow_net = build_flow_net(flow, channels if scale_field else 0, flow_width, raft_updates, dis_preset, flow_scale)
    # built in this order (backbone, flow, update, feature conv, head, fusion, refine): seeded runs
    # draw every initial weight as they always have
    update = UpdateBranch(update_backbone, num_classes, update_output_stride, update_channels,
                          pretrained == "imagenet", update_kernel, update_scale) if arch == "accel" else None
    feature_conv = nn.Identity() if kn else conv_bn_relu(net.out_channels, feat_channels)
    head = kn.head if kn else SegHead(feat_channels, num_classes)
    fuse = fusion_conv(fusion, num_classes, channels, update_channels) if update is not None else None
    refiner = build_refine(refine, num_classes)
    if update is None:
        model = DFFSegmenter(net, feature_conv, flow_net, head, padding_mode, propagation, refiner, key_flip)
    else:
        model = AccelSegmenter(net, feature_conv, flow_net, head, update, fuse, fusion, padding_mode, propagation,
                               refiner, key_flip)
    if kn:
        model.class_names, model.palette = kn.class_names, kn.palette
    return model


__all__ = ["ARCHS", "BACKBONES", "FLOW_NETS", "FUSIONS", "REFINES", "build_flow_net", "build_model"]
