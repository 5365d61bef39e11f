"""Streaming DFF: frames in, logits out, one key state held (memory constant in video length)."""
from __future__ import annotations

import torch

POLICIES = ("fixed", "adaptive")


class FixedPolicy:
    """A key frame every `key_interval` frames."""

    needs_signal = False

    def __init__(self, key_interval: int):
        self.key_interval, self.since_key = key_interval, 0

    def reset(self) -> None:
        self.since_key = 0

    def is_key(self, signal: float | None) -> bool:
        """Called once per non-first frame."""
        self.since_key += 1
        if self.since_key >= self.key_interval:
            self.since_key = 0
            return True
        return False


class AdaptivePolicy:
    """A key frame when the motion since the key is large, at an average rate of 1/key_interval.

    A budget earns 1/key_interval key frames per frame and each key frame spends one. A key is
    taken when the signal (mean flow magnitude to the key, in feature-grid pixels) exceeds
    `threshold` and the budget is at least `min_budget` (below 1: a key may come early, paid
    back by a longer wait after it), and always once the budget reaches `max_budget`. The
    budget stays within [min_budget - 1, max_budget], so over a long video the key-frame rate
    equals the fixed policy's; only the timing adapts.
    """

    needs_signal = True

    def __init__(self, key_interval: int, threshold: float = 0.5, min_budget: float = 0.5,
                 max_budget: float = 2.0):
        self.rate, self.threshold = 1.0 / key_interval, threshold
        self.min_budget, self.max_budget = min_budget, max_budget
        self.budget = 0.0

    def reset(self) -> None:
        self.budget = 0.0

    def is_key(self, signal: float | None) -> bool:
        self.budget += self.rate
        eps = 1e-9
        if self.budget >= self.max_budget - eps or (self.budget >= self.min_budget - eps and signal > self.threshold):
            self.budget -= 1.0
            return True
        return False


def build_policy(name: str, key_interval: int, threshold: float = 0.5):
    """Key-frame policy by name."""
    if key_interval < 1:
        raise ValueError(f"key_interval must be >= 1, got {key_interval}")
    if name == "fixed":
        return FixedPolicy(key_interval)
    if name == "adaptive":
        return AdaptivePolicy(key_interval, threshold)
    raise ValueError(f"unknown key-frame policy {name!r}; valid: {', '.join(POLICIES)}")


class StreamSegmenter:
    """Runs the key-frame network when the policy says so and propagates in between.

    Args:
        model: a DFFSegmenter in eval mode.
        policy: FixedPolicy or AdaptivePolicy (or an int k for a fixed interval).
    """

    def __init__(self, model, policy):
        self.model = model
        self.policy = build_policy("fixed", policy) if isinstance(policy, int) else policy
        self.state, self.frames, self.keys = None, 0, 0
        self.last_flow = None  # flow of the last propagated frame (None after a key frame)

    def reset(self) -> None:
        """Forget the key state; the next frame is a key frame."""
        self.state = None
        self.policy.reset()

    def _motion(self, frame: torch.Tensor):
        """(flow, scale) from frame to the held key frame on the feature grid."""
        return self.model.flow_net(frame, self.state["frame"], self.state["feat"].shape[-2:])

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Logits (1, C, H, W) of frame (1, 3, H, W) in [0, 1], and whether it was a key frame."""
        self.frames += 1
        if self.state is not None:
            # The flow is computed once, before the decision only when the policy needs it.
            motion = self._motion(frame) if self.policy.needs_signal else None
            signal = None if motion is None else float(motion[0].norm(dim=1).mean())
            if not self.policy.is_key(signal):
                motion = motion or self._motion(frame)
                self.last_flow = motion[0]
                state = {"frame": frame, "feat": self.model.warp(self.state["feat"], *motion)}
                if self.model.propagation == "chained":  # carry features frame to frame
                    self.state = state
                return self.model.predict(state), False
        self.keys += 1
        self.last_flow = None
        self.state = self.model.forward_key(frame)
        return self.model.forward_state(self.state, frame.shape[-2:]), True
