"""Temporal consistency of segmented video: VC_n against labels and TC along optical flow.

VC_n (VSPW, Miao et al. 2021): for each window of n consecutive labelled frames, A = the pixels
whose label is the same in all n (and not ignored), B = the pixels whose prediction is the same in
all n; VC = |A and B| / |A|. mVC_n is the mean over all windows of all clips (windows with an
unlabelled frame, or an empty A, are skipped).

TC (Liu et al., ETC, ECCV 2020), label-free: for consecutive frames t, t+1 the prediction of t+1
is warped into frame t along DIS flow with nearest sampling; pixels that fail the forward-backward
check (occluded) or leave the frame are masked; TC is the mIoU of P_t against the warped P_{t+1},
accumulated over all pairs in one confusion matrix.

Both run frame by frame (`ConsistencyMeter.add`), keeping one previous frame: a window's constancy
is a run length per pixel (how many frames in a row it has kept its class).
"""
from __future__ import annotations

import torch

from ..models.flow.dis import DISFlow
from .metrics import ConfusionMatrix


def _runs(run: torch.Tensor | None, value: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """Per pixel, how many frames in a row, ending with `value`, hold the same class (`run`: the
    count up to `previous`; None, or no previous: a new run)."""
    if run is None or previous is None:
        return torch.ones(value.shape, dtype=torch.int32)
    return torch.where(value == previous, run + 1, torch.ones_like(run))


class FlowWarps:
    """Where each pixel of frame t lies in frame t+1 (nearest), or -1 where the forward-backward
    check fails or the point leaves the frame; cached by the caller's key, so that several
    predictions of the same clip share one DIS pass.

    The check is Sundaram et al.'s (ECCV 2010), as in ETC: |f + b(p + f)|^2 < 0.01 (|f|^2 + |b|^2) + 0.5,
    f the flow t -> t+1 at p and b the flow t+1 -> t.
    """

    def __init__(self, preset: str = "fast"):
        self.dis = DISFlow(preset, input_scale=1.0).eval()
        self.cache: dict = {}

    def index(self, frame: torch.Tensor, following: torch.Tensor, key=None) -> torch.Tensor:
        """(H * W,) int64 flat indices into the following frame's pixels, -1 where masked.
        frame, following: (3, H, W) float in [0, 1]."""
        if key is not None and key in self.cache:
            return self.cache[key]
        h, w = frame.shape[-2:]
        both = torch.stack([frame, following]).cpu()
        flows, _ = self.dis(both, both.flip(0), (h, w))  # [t -> t+1, t+1 -> t], channel 0 = x
        fwd, bwd = flows[0], flows[1]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                indexing="ij")
        qx, qy = (xs + fwd[0]).round(), (ys + fwd[1]).round()
        inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        flat = (qy.clamp(0, h - 1) * w + qx.clamp(0, w - 1)).long()
        back = bwd.reshape(2, -1)[:, flat.reshape(-1)].reshape(2, h, w)
        err = (fwd + back).pow(2).sum(0)
        ok = inside & (err < 0.01 * (fwd.pow(2).sum(0) + back.pow(2).sum(0)) + 0.5)
        out = torch.where(ok, flat, torch.full_like(flat, -1)).reshape(-1)
        if key is not None:
            self.cache[key] = out
        return out


class ConsistencyMeter:
    """mVC_n for each n of `windows` and TC, fed one clip at a time, frame by frame.

    Args:
        num_classes: classes of the predictions (TC's mIoU).
        ignore_index: label value that is never part of A.
        windows: the window lengths n.
        warps: FlowWarps to share between meters (its cache keyed by (clip, frame)); None: TC off.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, windows=(8, 16), warps: FlowWarps | None = None):
        self.windows, self.ignore_index, self.warps = tuple(windows), ignore_index, warps
        self.vc_sums, self.vc_counts = {n: 0.0 for n in self.windows}, {n: 0 for n in self.windows}
        self.tc = ConfusionMatrix(num_classes, ignore_index)
        self.pairs = 0
        self.start_clip(None)

    def start_clip(self, clip) -> None:
        """The next frames belong to a new clip (`clip` names it in the warps' cache)."""
        self.clip = clip
        self.prev = None  # (frame index, prediction, label, frame)
        self.pred_run = self.label_run = None
        self.labelled = 0  # labelled frames in a row, ending at the last one

    def add(self, t: int, pred: torch.Tensor, label: torch.Tensor | None = None,
            frame: torch.Tensor | None = None) -> None:
        """Frame t of the clip (consecutive to the last one added): its predicted class ids (H, W),
        its label (same size) or None, and the frame (3, H, W) in [0, 1] at that size for TC."""
        pred = pred.cpu()
        prev = self.prev
        self.pred_run = _runs(self.pred_run, pred, None if prev is None else prev[1])
        if label is None:
            self.labelled, self.label_run = 0, None
        else:
            label = label.cpu()
            self.label_run = _runs(self.label_run, label, None if prev is None else prev[2])
            self.labelled += 1
            for n in self.windows:
                if self.labelled >= n:
                    a = (self.label_run >= n) & (label != self.ignore_index)
                    if a.any():
                        b = self.pred_run >= n
                        self.vc_sums[n] += float((a & b).sum()) / float(a.sum())
                        self.vc_counts[n] += 1
        if self.warps is not None and frame is not None and prev is not None and prev[3] is not None:
            idx = self.warps.index(prev[3], frame, (self.clip, prev[0]))
            warped = pred.reshape(-1)[idx.clamp(min=0)].reshape(pred.shape)
            target = torch.where(idx.reshape(pred.shape) >= 0, prev[1], torch.full_like(prev[1], self.ignore_index))
            self.tc.update(warped, target)
            self.pairs += 1
        self.prev = (t, pred, label, frame)

    def result(self) -> dict:
        """vc_<n> (None without a window) and vc_<n>_windows per n; tc (None without a pair), tc_pairs."""
        res = {}
        for n in self.windows:
            res[f"vc_{n}"] = self.vc_sums[n] / self.vc_counts[n] if self.vc_counts[n] else None
            res[f"vc_{n}_windows"] = self.vc_counts[n]
        if self.warps is not None:
            res.update(tc=self.tc.miou() if self.pairs else None, tc_pairs=self.pairs)
        return res
