"""The interface every dff model implements, and the state it carries from frame to frame.

    state = model.key(frame)              # the heavy key-frame network
    state = model.propagate(state, frame) # one warp from state.frame to frame
    logits = model.logits(state)          # class scores at the frame's size (or `size`)
    logits = model(clip, offset)          # training: windows of frames, key first

Direct propagation (DFF) passes the key's state to every later frame; chained propagation
(Accel) passes the previous frame's. Frames are float RGB in [0, 1], (N, 3, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

PROPAGATIONS = ("direct", "chained")


@dataclass(frozen=True)
class State:
    """A frame's features, and how they got there.

    Args:
        frame: the frame (N, 3, H, W) the features belong to.
        features: (N, C, h, w) on the feature grid: the key network's, or warped ones.
        flow: the flow (N, 2, h, w) that warped them here from the previous state's frame, in
            feature-grid pixels; None on a key frame.
    """

    frame: torch.Tensor
    features: torch.Tensor
    flow: torch.Tensor | None = None

    @property
    def is_key(self) -> bool:
        """Whether the key network computed these features on this very frame."""
        return self.flow is None

    def expand(self, n: int) -> State:
        """n views of a one-sample state (to propagate it to n frames in one batch)."""
        return replace(self, **{f: None if v is None else v.expand(n, *v.shape[1:])
                                for f, v in vars(self).items()})


def upsample(scores: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of class scores to `size`."""
    return F.interpolate(scores, size=tuple(size), mode="bilinear", align_corners=False)


class Segmenter(nn.Module):
    """Base of dff's models: the interface above, and what the engine may ask of a model.

    Attributes:
        propagation: "direct" or "chained" (how training windows and streams pass states).
        has_update_branch: a per-frame update branch is fused into propagated frames (Accel);
            evaluation then also scores it alone.
        branches: per-frame branches (train.objective per_frame) -> their top-level modules.
        class_names, palette: a pretrained key network's classes and the palettes.PALETTES name
            that draws them (None: the dataset's).
    """

    has_update_branch = False
    branches: dict[str, tuple[str, ...]] = {}
    class_names: list[str] | None = None
    palette: str | None = None

    def __init__(self, propagation: str = "direct"):
        super().__init__()
        if propagation not in PROPAGATIONS:
            raise ValueError(f"unknown propagation {propagation!r}; valid: {', '.join(PROPAGATIONS)}")
        self.propagation = propagation

    def key(self, frame: torch.Tensor) -> State:
        """Run the key-frame network on frame."""
        raise NotImplementedError

    def propagate(self, state: State, frame: torch.Tensor) -> State:
        """The state's features carried to frame in one warp."""
        raise NotImplementedError

    def logits(self, state: State, size=None) -> torch.Tensor:
        """Class scores of the state's frame at `size` (default: the frame's size)."""
        raise NotImplementedError

    def branch_logits(self, name: str, frame: torch.Tensor) -> torch.Tensor:
        """Logits of one of `branches` run on the frame alone."""
        raise NotImplementedError
