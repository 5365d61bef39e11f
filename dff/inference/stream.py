"""Streaming DFF: frames in, logits out, one key state held (memory constant in video length)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .policies import Context, Decision, FixedPolicy


@dataclass
class StreamStats:
    """What a stream has done: frames stepped, key frames among them, and key-network runs (keys
    and refused probes)."""

    frames: int = 0
    keys: int = 0
    key_runs: int = 0

    def since(self, earlier: StreamStats) -> StreamStats:
        """The counts after `earlier` (a copy taken before)."""
        return StreamStats(self.frames - earlier.frames, self.keys - earlier.keys, self.key_runs - earlier.key_runs)


class StreamRunner:
    """Runs the key network when the policy says so and propagates in between.

    Args:
        model: a dff model (models/segmenter.py) in eval mode.
        policy: a key-frame policy (policies.py), or an int k for a key every k frames.
    """

    def __init__(self, model, policy):
        self.model = model
        self.policy = FixedPolicy(policy) if isinstance(policy, int) else policy
        self.held = None  # the state propagation starts from (None: the next frame is a key)
        self.previous, self.previous_logits = None, None  # the last frame's state and output
        self.stats = StreamStats()

    def reset(self) -> None:
        """Forget the key state; the next frame is a key frame."""
        self.held = None
        self.policy.reset()

    @property
    def last_flow(self) -> torch.Tensor | None:
        """Flow of the last frame to its key on the feature grid (None for a key frame)."""
        return self.previous.flow

    @torch.no_grad()
    def step(self, frame: torch.Tensor, key: tuple | None = None) -> tuple[torch.Tensor, bool]:
        """Logits (1, C, H, W) of frame (1, 3, H, W) in [0, 1], and whether it was a key frame.

        key: (state, logits) of the key network on this frame, computed ahead
        (lookahead.py); the policy must then key this frame."""
        self.stats.frames += 1
        decision, context = Decision.KEY, None
        if self.held is not None:
            context = Context(self.model, frame, self.held, self.previous, self.previous_logits)
            decision = self.policy.decide(context)
        if key is not None and decision is not Decision.KEY:
            raise RuntimeError(f"a key state was computed ahead for frame {self.stats.frames} but the "
                               f"{self.policy.name} policy decided {decision.value}")
        if key is not None:
            self.stats.key_runs += 1
            state, logits = key
        elif decision is Decision.PROPAGATE:
            state = self.model.propagate(self.held, frame)
            logits = self.model.logits(state)
        else:
            state, logits = self._key(frame, context)
        if state.is_key:
            self.stats.keys += 1
            self.held = state
        elif self.model.propagation == "chained":  # features carried frame to frame
            self.held = state
        self.previous, self.previous_logits = state, logits
        return logits, state.is_key

    def _key(self, frame: torch.Tensor, context: Context | None) -> tuple:
        """(state, logits) of a frame the policy keyed (context None: a clip's first frame). A
        runner for research policies may override it (experiments/policies.py probes)."""
        self.stats.key_runs += 1
        state = self.model.key(frame)
        return state, self.model.logits(state)


def runner_for(model, policy) -> StreamRunner:
    """The runner a policy (or an int k: a key every k frames) needs: its `runner` class, or StreamRunner."""
    policy = FixedPolicy(policy) if isinstance(policy, int) else policy
    return (policy.runner or StreamRunner)(model, policy)
