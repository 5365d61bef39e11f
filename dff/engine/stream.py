"""Streaming DFF: frames in, logits out, one key state held (memory constant in video length)."""
from __future__ import annotations

import torch

from ..ops import flow_warp, resize_flow
from .policies import build_policy


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
        self.key_runs = 0  # key-network runs: the key frames plus the probes a probe policy refused
        self.previous_frame = None  # the probe policy's flow runs from the probed frame to this
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
        logits, key = self._step(frame)
        self.previous_frame = frame
        return logits, key

    def _step(self, frame: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """step() without remembering the frame."""
        self.frames += 1
        if self.state is not None:
            # The flow is computed once, before the decision only when the signal needs it.
            motion = self._motion(frame) if self.signal in ("flow", "residual") else None
            signal = self._signal(frame, motion) if self.signal else None
            if not self.policy.is_key(signal):
                motion = motion or self._motion(frame)
                state = self._warped(frame, motion)
                self._hold(state, motion)
                return self._observed(self._predict(state)), False
            if getattr(self.policy, "probes", False):
                return self._probe(frame)
        self.keys += 1
        self.key_runs += 1
        self.last_flow, self.previous = None, 0.0
        self.state = self.model.forward_key(frame)
        return self._observed(self.model.forward_state(self.state, frame.shape[-2:])), True

    def _probe(self, frame: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Run the key network on frame and let the policy choose between it and the held key."""
        self.key_runs += 1
        new = self.model.forward_key(frame)
        motion = self._motion(frame)
        held = self._warped(frame, motion)
        held_logits, new_logits = self.model.predict(held), self.model.forward_state(new, frame.shape[-2:])
        if self.policy.adopt(*self.policy.fits(frame, self.previous_frame, held_logits, new_logits)):
            self.keys += 1
            self.last_flow, self.state = None, new
            return self._observed(new_logits), True
        self._hold(held, motion)
        return self._observed(held_logits), False

    def _warped(self, frame: torch.Tensor, motion) -> dict:
        """The held state's features warped to frame by motion (flow, scale)."""
        return {"frame": frame, "feat": self.model.warp(self.state["feat"], *motion)}

    def _hold(self, state: dict, motion) -> None:
        """Bookkeeping of a propagated frame: its flow, and (chained) its state carried on."""
        self.last_flow = motion[0]
        if self.model.propagation == "chained":  # carry features frame to frame
            self.state = state

    def _observed(self, logits: torch.Tensor) -> torch.Tensor:
        """Pass logits through, noting their uncertainty when the policy reads it."""
        if self.signal == "uncertainty":
            self.previous = float(1 - logits.softmax(1).amax(1).mean())
        return logits
