"""torchvision's RAFT-small (Teed and Deng, ECCV 2020) as a trainable flow net."""
from __future__ import annotations

from ...ops import resize_flow, resize_frames
from .base import FlowNet


class RAFTSmallFlow(FlowNet):
    """RAFT-small from torchvision (random weights: its pretrained ones need a download).

    Args:
        num_flow_updates: recurrent refinement steps.
        input_scale: resolution factor applied to the frames before RAFT.
    """

    def __init__(self, num_flow_updates: int = 6, input_scale: float = 0.5):
        super().__init__(input_scale)
        from torchvision.models.optical_flow import raft_small

        self.raft = raft_small(weights=None)
        self.num_flow_updates = num_flow_updates

    def estimate(self, current, key, out_size):
        h, w = current.shape[-2:]
        # RAFT needs sides divisible by 8 and >= 128 (its correlation pyramid); resize_flow
        # accounts for the changed grid. It takes frames in [-1, 1].
        size = tuple(max(128, round(n * self.input_scale / 8) * 8) for n in (h, w))
        c, k = (resize_frames(x, size=size) * 2 - 1 for x in (current, key))
        flow = self.raft(c, k, num_flow_updates=self.num_flow_updates)[-1]
        return resize_flow(flow, out_size), None
