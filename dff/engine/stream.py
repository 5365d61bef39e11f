"""Streaming DFF: frames in, logits out, one key state held (memory constant in video length)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..models.flow_nets import DISFlow
from ..ops import flow_warp, resize_flow

POLICIES = ("fixed", "adaptive", "probe")
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


def motion_fit(labels: torch.Tensor, flow: torch.Tensor) -> float:
    """How well a segmentation (H, W) explains a flow field (2, H, W): Fisher's criterion, the
    mean squared distance between the class mean flows over the mean within-class variance.
    Classes with under 4 pixels are skipped; 0 when fewer than two remain."""
    vecs, ids = flow.flatten(1).T.double(), labels.flatten()
    groups = [vecs[ids == c] for c in ids.unique()]
    groups = [g for g in groups if len(g) >= 4]
    if len(groups) < 2:
        return 0.0
    means = torch.stack([g.mean(0) for g in groups])
    within = torch.stack([g.var(0, unbiased=False).sum() for g in groups]).mean()
    n = len(groups)
    between = torch.pdist(means).pow(2).sum() / (n * (n - 1) / 2)
    return float(between / (within + 1e-6))


class ProbePolicy(FixedPolicy):
    """The key network runs every `key_interval` frames, as fixed; the probed frame becomes the
    key unless the held key, warped to it, explains the frame's motion clearly better.

    Both segmentations of the probed frame are scored by motion_fit on its optical flow to the
    previous frame (DIS, at frame resolution: a few ms): the probe is refused when the held
    key's log fit exceeds the new one's by more than `margin`. A refused probe costs a
    key-network run and the frame is propagated as usual; so a key is held through stretches
    where the key network errs (on DAVIS the key frames' own quality is what varies, not the
    motion). A probe is always adopted when the held key would otherwise be over `max_gap`
    frames old (default 3 x key_interval) at the next probe.
    """

    probes = True

    def __init__(self, key_interval: int, margin: float = 0.5, max_gap: int | None = None):
        super().__init__(key_interval)
        self.margin, self.max_gap = margin, max_gap or 3 * key_interval
        if self.max_gap < key_interval:
            raise ValueError(f"max_gap {self.max_gap} is below key_interval {key_interval}")
        self.age = 0
        self.flow = DISFlow("fast", 1.0).eval()

    def reset(self) -> None:
        super().reset()
        self.age = 0

    def is_key(self, signal: float | None) -> bool:
        self.age += 1
        return super().is_key(signal)

    def fits(self, frame: torch.Tensor, previous: torch.Tensor, held: torch.Tensor, new: torch.Tensor) -> tuple[float, float]:
        """motion_fit of two segmentations of frame (class scores on any grid) on the flow from
        frame to the previous frame."""
        size = tuple(frame.shape[-2:])
        flow = self.flow(frame, previous, size)[0][0]
        labels = [F.interpolate(s, size=size, mode="bilinear", align_corners=False)[0].argmax(0) for s in (held, new)]
        return motion_fit(labels[0], flow), motion_fit(labels[1], flow)

    def adopt(self, held_fit: float, new_fit: float) -> bool:
        """Whether the probed frame replaces the held key (called on every probe)."""
        eps = 1e-3
        if self.age + self.key_interval > self.max_gap or math.log(held_fit + eps) - math.log(new_fit + eps) <= self.margin:
            self.age = 0
            return True
        return False


def build_policy(name: str, key_interval: int, threshold: float = 0.5, signal: str = "flow"):
    """Key-frame policy by name (threshold: adaptive's signal level or probe's margin; signal:
    adaptive only)."""
    if key_interval < 1:
        raise ValueError(f"key_interval must be >= 1, got {key_interval}")
    if name == "fixed":
        return FixedPolicy(key_interval)
    if name == "adaptive":
        return AdaptivePolicy(key_interval, threshold, signal=signal)
    if name == "probe":
        return ProbePolicy(key_interval, threshold)
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
                self.last_flow = motion[0]
                state = {"frame": frame, "feat": self.model.warp(self.state["feat"], *motion)}
                if self.model.propagation == "chained":  # carry features frame to frame
                    self.state = state
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
        held = {"frame": frame, "feat": self.model.warp(self.state["feat"], *motion)}
        held_scores, new_scores = self.model.decode(held["feat"], frame), self.model.head(new["feat"])
        if self.policy.adopt(*self.policy.fits(frame, self.previous_frame, held_scores, new_scores)):
            self.keys += 1
            self.last_flow, self.state = None, new
            return self._observed(self.model.upsample(new_scores, frame.shape[-2:])), True
        self.last_flow = motion[0]
        if self.model.propagation == "chained":
            self.state = held
        return self._observed(self.model.upsample(held_scores, frame.shape[-2:])), False

    def _observed(self, logits: torch.Tensor) -> torch.Tensor:
        """Pass logits through, noting their uncertainty when the policy reads it."""
        if self.signal == "uncertainty":
            self.previous = float(1 - logits.softmax(1).amax(1).mean())
        return logits
