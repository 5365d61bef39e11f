"""Models: backbones, flow networks, heads, Accel fusion and the propagation models."""
from .accel import FUSIONS, AccelSegmenter, UpdateBranch
from .backbones import BACKBONES, MobileNetBackbone, ResNetBackbone, build_backbone
from .build import ARCHS, FLOW_NETS, build_flow_net, build_model
from .dff import DFFSegmenter, SegHead
from .flownet import FlowNetSLite

__all__ = ["ARCHS", "BACKBONES", "FLOW_NETS", "FUSIONS", "AccelSegmenter", "DFFSegmenter", "FlowNetSLite",
           "MobileNetBackbone", "ResNetBackbone", "SegHead", "UpdateBranch", "build_backbone",
           "build_flow_net", "build_model"]
