"""Models: backbones, flow networks, heads and the DFF propagation model."""
from .backbones import BACKBONES, ResNetBackbone, build_backbone
from .build import FLOW_NETS, build_flow_net, build_model
from .dff import DFFSegmenter, SegHead
from .flownet import FlowNetSLite

__all__ = ["BACKBONES", "FLOW_NETS", "DFFSegmenter", "FlowNetSLite", "ResNetBackbone", "SegHead",
           "build_backbone", "build_flow_net", "build_model"]
