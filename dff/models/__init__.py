"""Models: backbones, heads, flow networks, and the propagation models behind one interface."""
from .accel import FUSIONS, AccelSegmenter, UpdateBranch
from .backbones import BACKBONES, MobileNetBackbone, ResNetBackbone, build_backbone
from .build import ARCHS, build_model
from .dff import DFFSegmenter
from .flow import FLOW_NETS, FlowNetSLite, build_flow_net
from .heads import SegHead
from .segmenter import Segmenter, State

__all__ = ["ARCHS", "BACKBONES", "FLOW_NETS", "FUSIONS", "AccelSegmenter", "DFFSegmenter", "FlowNetSLite",
           "MobileNetBackbone", "ResNetBackbone", "SegHead", "Segmenter", "State", "UpdateBranch",
           "build_backbone", "build_flow_net", "build_model"]
