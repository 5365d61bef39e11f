"""Flow networks, one file each, all keeping the contract of base.FlowNet."""
from __future__ import annotations

from .base import FlowNet
from .dis import DISFlow
from .flownets_lite import FlowNetSLite
from .oracle import OracleFlow
from .raft_small import RAFTSmallFlow
from .zero import ZeroFlow

FLOW_NETS = ("flownets_lite", "raft_small", "dis", "zero", "oracle")


def build_flow_net(name: str, scale_channels: int = 0, width: float = 1.0, raft_updates: int = 6,
                   dis_preset: str = "fast", input_scale: float = 0.5) -> FlowNet:
    """Flow network by name (one of FLOW_NETS).

    Args:
        scale_channels: flownets_lite: channels of DFF's scale field (0: none); the others
            propagate with scale 1.
        width: flownets_lite channel multiplier.
        raft_updates: raft_small recurrent updates.
        dis_preset: dis preset (ultrafast, fast, medium).
        input_scale: flownets_lite, raft_small and dis see the frames resized by this factor.
    """
    if name == "flownets_lite":
        return FlowNetSLite(scale_channels=scale_channels, width=width, input_scale=input_scale)
    if name == "raft_small":
        return RAFTSmallFlow(num_flow_updates=raft_updates, input_scale=input_scale)
    if name == "dis":
        return DISFlow(preset=dis_preset, input_scale=input_scale)
    if name == "zero":
        return ZeroFlow()
    if name == "oracle":
        return OracleFlow()
    raise ValueError(f"unknown flow network {name!r}; valid: {', '.join(FLOW_NETS)}")


__all__ = ["FLOW_NETS", "DISFlow", "FlowNet", "FlowNetSLite", "OracleFlow", "RAFTSmallFlow", "ZeroFlow",
           "build_flow_net"]
