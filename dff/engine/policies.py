"""Key-frame policies: when the stream runs the key network, and which key it holds."""
from __future__ import annotations

import math

import torch

from ..models.flow_nets import DISFlow
from .metrics import class_map

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
        """motion_fit of two segmentations of frame (logits at its size) on the flow from frame
        to the previous frame."""
        flow = self.flow(frame, previous, tuple(frame.shape[-2:]))[0][0]
        return motion_fit(class_map(held[0], 0), flow), motion_fit(class_map(new[0], 0), flow)

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
