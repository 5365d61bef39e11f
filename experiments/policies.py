"""Research key-frame policies, behind dff's policy interface (dff/inference/policies.py).

Neither beat the fixed policy in a way that held up (experiments/README.md): AdaptivePolicy
never did on DAVIS, and ProbePolicy's win on the shared val clips did not carry over to unseen
DAVIS sequences. They stay here with their studies.
"""
from __future__ import annotations

import math

import torch

from dff.engine.metrics import class_map
from dff.inference.policies import Context, Decision, FixedPolicy
from dff.inference.stream import StreamRunner
from dff.models.flow import DISFlow
from dff.ops import flow_warp, resize_flow


def _motion(c: Context):
    """(flow, scale) from the frame to the held key, on the feature grid."""
    return c.model.flow_net(c.frame, c.held.frame, c.held.features.shape[-2:])


def _disagreement(c: Context) -> float:
    """Accel: fraction of the previous frame's grid where the warped reference and the update
    branch picked different classes (0 after a key frame: the reference alone)."""
    if not c.model.has_update_branch:
        raise ValueError("key signal 'disagreement' compares the update branch with the reference: "
                         "it needs model.arch=accel")
    prev = c.previous
    if prev.is_key:
        return 0.0
    update = c.model.update_output(prev.frame, prev.features.shape[-2:])
    own = update if c.model.fusion_mode == "score" else c.model.update.head(update)
    return float((c.model.head(prev.features).argmax(1) != own.argmax(1)).float().mean())


# Every signal is "how far is this frame from its key": the mean flow magnitude (feature-grid
# px); the photometric error of the key warped onto the frame ([0, 1] intensity); the mean
# frame difference (no flow needed). Two are read off the previous frame's output: its
# uncertainty, 1 - mean max class probability; and (Accel) its branches' disagreement.
SIGNALS = {
    "flow": lambda c: float(_motion(c)[0].norm(dim=1).mean()),
    "residual": lambda c: float((flow_warp(c.held.frame, resize_flow(_motion(c)[0], c.frame.shape[-2:]),
                                           padding_mode="border") - c.frame).abs().mean()),
    "difference": lambda c: float((c.frame - c.held.frame).abs().mean()),
    "uncertainty": lambda c: float(1 - c.previous_logits.softmax(1).amax(1).mean()),
    "disagreement": _disagreement,
}


class AdaptivePolicy:
    """A key frame when the signal since the key is large, at an average rate of 1/key_interval.

    A budget earns 1/key_interval key frames per frame and each key frame spends one. A key is
    taken when the signal (one of SIGNALS, measured from the frame to its key) exceeds
    `threshold` and the budget is at least `min_budget` (below 1: a key may come early, paid
    back by a longer wait after it), and always once the budget reaches `max_budget`. The
    budget stays within [min_budget - 1, max_budget], so over a long video the key-frame rate
    equals the fixed policy's; only the timing adapts.
    """

    name = "adaptive"
    runner = None  # the plain StreamRunner

    def __init__(self, key_interval: int, threshold: float = 0.5, min_budget: float = 0.5,
                 max_budget: float = 2.0, signal: str = "flow"):
        if signal not in SIGNALS:
            raise ValueError(f"unknown adaptive key signal {signal!r}; valid: {', '.join(SIGNALS)}")
        self.key_interval, self.rate = key_interval, 1.0 / key_interval
        self.threshold, self.signal = threshold, signal
        self.min_budget, self.max_budget = min_budget, max_budget
        self.budget = 0.0

    def reset(self) -> None:
        self.budget = 0.0

    def is_key(self, signal: float) -> bool:
        """Spend the budget on this frame's signal value."""
        self.budget += self.rate
        eps = 1e-9
        if self.budget >= self.max_budget - eps or (self.budget >= self.min_budget - eps and signal > self.threshold):
            self.budget -= 1.0
            return True
        return False

    def decide(self, context: Context) -> Decision:
        return Decision.KEY if self.is_key(SIGNALS[self.signal](context)) else Decision.PROPAGATE


def motion_fit(labels: torch.Tensor, flow: torch.Tensor) -> float:
    """How well a segmentation (H, W) explains a flow field (2, H, W): Fisher's criterion, the
    mean squared distance between the class mean flows over the mean within-class variance.
    Classes with under 4 pixels are skipped; 0 when fewer than two remain."""
    ids, vecs = labels.flatten(), flow.flatten(1).double()
    n = int(ids.max()) + 1
    count = torch.bincount(ids, minlength=n).double()
    keep = count >= 4
    if int(keep.sum()) < 2:
        return 0.0
    # per-class sums in one pass each (bincount), not a boolean mask per class
    s1 = torch.stack([torch.bincount(ids, weights=v, minlength=n) for v in vecs])[:, keep]
    s2 = torch.stack([torch.bincount(ids, weights=v * v, minlength=n) for v in vecs])[:, keep]
    count = count[keep]
    means = s1 / count
    within = (s2 / count - means ** 2).sum(0).clamp(min=0).mean()
    k = len(count)
    between = torch.pdist(means.T).pow(2).sum() / (k * (k - 1) / 2)
    return float(between / (within + 1e-6))


class ProbingRunner(StreamRunner):
    """A stream whose scheduled key frames are probes: the key network runs, then the policy's
    adopt(context, held_logits, new_logits) says whether the new key replaces the held one; a
    refused probe is propagated as usual, its key-network run counted in stats.key_runs."""

    def _key(self, frame: torch.Tensor, context: Context | None) -> tuple:
        state, logits = super()._key(frame, context)
        if context is None:  # a clip's first frame: nothing held to compare with
            return state, logits
        held = self.model.propagate(self.held, frame)
        held_logits = self.model.logits(held)
        return (state, logits) if self.policy.adopt(context, held_logits, logits) else (held, held_logits)


class ProbePolicy(FixedPolicy):
    """The key network runs every `key_interval` frames, as fixed; the probed frame becomes the
    key unless the held key, warped to it, explains the frame's motion clearly better.

    Both segmentations of the probed frame are scored by motion_fit on its optical flow to the
    previous frame (DIS, at frame resolution: a few ms): the probe is refused when the held
    key's log fit exceeds the new one's by more than `margin`. A refused probe costs a
    key-network run and the frame is propagated as usual. A probe is always adopted when the
    held key would otherwise be over `max_gap` frames old (default 3 x key_interval) at the next
    probe.
    """

    name = "probe"
    runner = ProbingRunner

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

    def scheduled(self) -> bool:
        self.age += 1
        return super().scheduled()

    def decide(self, context: Context) -> Decision:
        return Decision.KEY if self.scheduled() else Decision.PROPAGATE  # a key ProbingRunner probes

    def fits(self, frame: torch.Tensor, previous: torch.Tensor, held: torch.Tensor, new: torch.Tensor) -> tuple[float, float]:
        """motion_fit of two segmentations of frame (logits at its size) on the flow from frame
        to the previous frame."""
        flow = self.flow(frame, previous, tuple(frame.shape[-2:]))[0][0]
        return motion_fit(class_map(held[0], 0), flow), motion_fit(class_map(new[0], 0), flow)

    def choose(self, held_fit: float, new_fit: float) -> bool:
        """Whether the probed frame replaces the held key, from the two fits."""
        eps = 1e-3
        if self.age + self.key_interval > self.max_gap or math.log(held_fit + eps) - math.log(new_fit + eps) <= self.margin:
            self.age = 0
            return True
        return False

    def adopt(self, context: Context, held_logits: torch.Tensor, new_logits: torch.Tensor) -> bool:
        return self.choose(*self.fits(context.frame, context.previous.frame, held_logits, new_logits))
