"""Key-frame policies: when the stream runs the key network.

A policy sees every frame after a clip's first (which is always a key) and answers with one
`decide(context)`: KEY (run the key network) or PROPAGATE (warp the held key's features). Every
policy has a `key_interval` (its mean one, if it decides per frame), `reset()` for a new video, and
`runner`: the stream runner it needs (None: stream.StreamRunner; a research policy that probes keys
brings its own, experiments/policies.py). dff ships the fixed policy.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from ..models import Segmenter, State

POLICIES = ("fixed",)


class Decision(Enum):
    KEY = "key"
    PROPAGATE = "propagate"


@dataclass(frozen=True)
class Context:
    """What a policy may read when it decides on a frame.

    Args:
        model: the model the stream runs.
        frame: the frame to decide on, (1, 3, H, W) in [0, 1].
        held: the held state (the key's; chained propagation: the previous frame's).
        previous: the previous frame's state, and previous_logits its output.
    """

    model: Segmenter
    frame: torch.Tensor
    held: State
    previous: State
    previous_logits: torch.Tensor


class FixedPolicy:
    """A key frame every `key_interval` frames."""

    name = "fixed"  # what `model.key_policy` and the results call it
    runner = None  # the stream.StreamRunner subclass the policy needs (None: StreamRunner itself)

    def __init__(self, key_interval: int):
        if key_interval < 1:
            raise ValueError(f"key_interval must be >= 1, got {key_interval}")
        self.key_interval, self.since_key = key_interval, 0

    def reset(self) -> None:
        """A new video starts (its first frame is a key)."""
        self.since_key = 0

    def scheduled(self) -> bool:
        """Count a frame; True every key_interval-th since the key."""
        self.since_key += 1
        if self.since_key >= self.key_interval:
            self.since_key = 0
            return True
        return False

    def decide(self, context: Context) -> Decision:
        return Decision.KEY if self.scheduled() else Decision.PROPAGATE


def build_policy(name: str, key_interval: int) -> FixedPolicy:
    """Key-frame policy by name (one of POLICIES)."""
    if name == "fixed":
        return FixedPolicy(key_interval)
    raise ValueError(f"unknown key-frame policy {name!r}; valid: {', '.join(POLICIES)}")
