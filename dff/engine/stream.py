"""Streaming DFF: frames in, logits out, one key state held (memory constant in video length)."""
from __future__ import annotations

import torch

from ..ops import flow_warp, resize_flow

POLICIES = ("fixed", "adaptive")
# Adaptive signals, all "how far is this frame from its key": mean flow magnitude (feature-grid
# px); mean |frame - key warped by the flow| (the warp's photometric error, [0, 1] intensity);
# mean |frame - key| (no flow needed before the decision). Two are read off the previous frame's
# output (free; a key frame's counts too): its uncertainty, 1 - mean max class probability; and,
# Accel only, the fraction of pixels where the update branch and the warped reference disagreed
# (0 after a key frame: the reference alone).
SIGNALS = ("flow", "residual", "difference", "uncertainty", "disagreement")


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
    taken when the signal (one of SIGNALS, measured from the frame to its key) exceeds
    `threshold` and the budget is at least `min_budget` (below 1: a key may come early, paid
    back by a longer wait after it), and always once the budget reaches `max_budget`. The
    budget stays within [min_budget - 1, max_budget], so over a long video the key-frame rate
    equals the fixed policy's; only the timing adapts.
    """

    needs_signal = True

    def __init__(self, key_interval: int, threshold: float = 0.5, min_budget: float = 0.5,
                 max_budget: float = 2.0, signal: str = "flow"):
        if signal not in SIGNALS:
            raise ValueError(f"unknown adaptive key signal {signal!r}; valid: {', '.join(SIGNALS)}")
        self.rate, self.threshold, self.signal = 1.0 / key_interval, threshold, signal
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


def build_policy(name: str, key_interval: int, threshold: float = 0.5, signal: str = "flow"):
    """Key-frame policy by name (threshold and signal: adaptive only)."""
    if key_interval < 1:
        raise ValueError(f"key_interval must be >= 1, got {key_interval}")
    if name == "fixed":
        return FixedPolicy(key_interval)
    if name == "adaptive":
        return AdaptivePolicy(key_interval, threshold, signal=signal)
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
        self.signal = self.policy.signal if self.policy.needs_signal else None
        if self.signal == "disagreement" and not hasattr(model, "predict_and_disagreement"):
            raise ValueError("key signal 'disagreement' compares the update branch with the reference: "
                             "it needs model.arch=accel")
        self.state, self.frames, self.keys = None, 0, 0
        self.last_flow = None  # flow of the last propagated frame (None after a key frame)
        self.previous = 0.0  # uncertainty / disagreement of the previous frame's output

    def reset(self) -> None:
        """Forget the key state; the next frame is a key frame."""
        self.state = None
        self.policy.reset()

    def _motion(self, frame: torch.Tensor):
        """(flow, scale) from frame to the held key frame on the feature grid."""
        return self.model.flow_net(frame, self.state["frame"], self.state["feat"].shape[-2:])

    def _signal(self, frame: torch.Tensor, motion) -> float:
        """The adaptive policy's signal from frame to the held key frame."""
        key = self.state["frame"]
        if self.signal in ("uncertainty", "disagreement"):
            return self.previous
        if self.signal == "difference":
            return float((frame - key).abs().mean())
        if self.signal == "residual":
            flow = resize_flow(motion[0], frame.shape[-2:])
            return float((flow_warp(key, flow, padding_mode="border") - frame).abs().mean())
        return float(motion[0].norm(dim=1).mean())

    def _predict(self, state: dict) -> torch.Tensor:
        """Logits of a propagated frame (and, for the disagreement signal, its disagreement)."""
        if self.signal != "disagreement":
            return self.model.predict(state)
        logits, disagree = self.model.predict_and_disagreement(state)
        self.previous = float(disagree[0])
        return logits

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Logits (1, C, H, W) of frame (1, 3, H, W) in [0, 1], and whether it was a key frame."""
        self.frames += 1
        if self.state is not None:
            # The flow is computed once, before the decision only when the signal needs it.
            motion = self._motion(frame) if self.signal in ("flow", "residual") else None
            signal = self._signal(frame, motion) if self.signal else None
            if not self.policy.is_key(signal):
                motion = motion or self._motion(frame)
                self.last_flow = motion[0]
                state = {"frame": frame, "feat": self.model.warp(self.state["feat"], *motion)}
                if self.model.propagation == "chained":  # carry features frame to frame
                    self.state = state
                return self._observed(self._predict(state)), False
        self.keys += 1
        self.last_flow, self.previous = None, 0.0
        self.state = self.model.forward_key(frame)
        return self._observed(self.model.forward_state(self.state, frame.shape[-2:])), True

    def _observed(self, logits: torch.Tensor) -> torch.Tensor:
        """Pass logits through, noting their uncertainty when the policy reads it."""
        if self.signal == "uncertainty":
            self.previous = float(1 - logits.softmax(1).amax(1).mean())
        return logits
