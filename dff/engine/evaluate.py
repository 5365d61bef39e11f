"""mIoU of the per-frame model and of DFF at every key-frame distance."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm import tqdm

from ..io.publish import write_atomic
from ..data.frames import to_float
from ..data.store import FrameStore
from ..inference.segmenter import VideoSegmenter
from ..inference.stream import StreamRunner
from ..models.segmenter import upsample
from .consistency import ConsistencyMeter, FlowWarps
from .metrics import ConfusionMatrix, class_map
from .motion import MotionBins


def _subsample(items: list, n: int) -> list:
    """n evenly spaced items (all if n <= 0 or n >= len)."""
    if n <= 0 or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def at_size(logits: torch.Tensor, size) -> torch.Tensor:
    """Class scores (N, C, h, w) bilinearly at `size` (H, W): the labels' size, where a split's frames
    were stored smaller or larger than its labels (dff tradeoff scores every size on one set)."""
    return logits if tuple(logits.shape[-2:]) == tuple(size) else upsample(logits, size)


def propagate_batch(model, state, frames: torch.Tensor) -> torch.Tensor:
    """Logits of frames (T, 3, H, W), each warped in one step from the same key state."""
    return model.logits(model.propagate(state.expand(len(frames)), frames))


def check_distances(store: FrameStore, key_interval: int) -> None:
    """ValueError unless every key distance 0..K-1 has a frame to score in the split (a labelled
    frame, or any frame of unlabelled footage) whose key lies in the same clip: shorter clips
    would average a NaN into the mean."""
    longest = max((clip.end - clip.start for clip in store.clips), default=0)
    if longest < key_interval:
        raise ValueError(f"the val split's longest clip has {longest} frames, fewer than the key interval "
                         f"{key_interval}: distances {longest}..{key_interval - 1} have no frame to score; "
                         "lower model.key_interval (or --key-interval) or give longer val clips")


VC_WINDOWS = (8, 16)  # the video consistency windows scored (VSPW's VC_8 and VC_16)

# evaluate's mIoU results; None when the split has no labelled frame (agreement still works).
LABEL_KEYS = ("per_frame_miou", "miou_by_distance", "mean_miou", "ratio", "per_class_iou_per_frame", "update_miou")


class _Scores:
    """What evaluate fills: confusion matrices per key distance against the labels and against the
    teacher (the model's own key output), the update branch alone, and by motion."""

    def __init__(self, model, store: FrameStore, k: int, num_classes: int, ignore_index: int, motion_bins,
                 against_teacher: bool, device):
        self.model, self.store, self.k, self.device, self.against_teacher = model, store, k, device, against_teacher
        self.per_dist = [ConfusionMatrix(num_classes, ignore_index) for _ in range(k)]
        self.agree = [ConfusionMatrix(num_classes, ignore_index) for _ in range(k)]
        self.counts, self.agree_counts = [0] * k, [0] * k
        self.update = ConfusionMatrix(num_classes, ignore_index) if model.has_update_branch else None
        self.motion = None if motion_bins is None else MotionBins(motion_bins, num_classes, ignore_index,
                                                                  against_teacher)
        self.teachers: dict[tuple[int, int], torch.Tensor] = {}  # (clip, frame) -> teacher class map (uint8)

    def frame(self, c: int, i: int) -> torch.Tensor:
        return to_float(self.store.frames[c][i])[None].to(self.device)

    def teacher(self, c: int, t: int) -> torch.Tensor:
        if (c, t) not in self.teachers:  # a frame that max_frames left out of the key positions
            self.teachers[(c, t)] = class_map(self.model.logits(self.model.key(self.frame(c, t)))[0], 0).to(torch.uint8)
        return self.teachers[(c, t)]

    def scored(self, c: int, t: int) -> bool:
        return self.against_teacher or t in self.store.labels[c]

    def score(self, c: int, t: int, d: int, logits: torch.Tensor, magnitude: float | None = None) -> None:
        pred, label = class_map(logits, 0), self.store.labels[c].get(t)
        truth = self.teacher(c, t) if self.against_teacher else None
        if label is not None:
            at_label = class_map(at_size(logits[None], label.shape)[0], 0)
            self.per_dist[d].update(at_label, label)
            self.counts[d] += 1
            if magnitude is not None:
                self.motion.add(magnitude, at_label, label, None)
        if truth is not None:  # d = 0 is the teacher itself: counted, its agreement is 1 by definition
            if d:
                self.agree[d].update(pred, truth)
            self.agree_counts[d] += 1
            if magnitude is not None:
                self.motion.add(magnitude, pred, None, truth)

    def from_key(self, c: int, s: int) -> None:
        """Run the key network on frame s of clip c and score it and the K - 1 frames after it."""
        model, k, end, labels = self.model, self.k, self.store.clips[c].end, self.store.labels[c]
        # the cache keeps only the teacher maps of frames s .. s+K-1
        self.teachers = {ct: m for ct, m in self.teachers.items() if ct[0] == c and ct[1] < s + k}
        state = key_state = model.key(self.frame(c, s))
        if self.scored(c, s):
            logits = model.logits(state)[0]
            if self.against_teacher:
                self.teachers[(c, s)] = class_map(logits, 0).to(torch.uint8)
            self.score(c, s, 0, logits)
        if self.update is not None and s in labels:
            self.update.update(class_map(model.branch_logits("update", state.frame)[0], 0), labels[s])
        if model.propagation == "direct":
            ts = [t for t in range(s + 1, min(s + k, end)) if self.scored(c, t)]
            if ts:  # all distances from one key in one batch
                current = torch.cat([self.frame(c, t) for t in ts])
                mags = [None] * len(ts) if self.motion is None else self.motion.magnitudes(current, key_state.frame)
                for t, logits, m in zip(ts, propagate_batch(model, state, current), mags):
                    self.score(c, t, t - s, logits, m)
            return
        for t in range(s + 1, min(s + k, end)):
            state = model.propagate(state, self.frame(c, t))
            if self.scored(c, t):
                m = None if self.motion is None else self.motion.magnitudes(state.frame, key_state.frame)[0]
                self.score(c, t, t - s, model.logits(state)[0], m)

    def result(self) -> dict:
        k, by_dist = self.k, [m.miou() for m in self.per_dist]
        per_frame, mean = by_dist[0], sum(by_dist) / k
        res = {
            "model": "Accel" if self.update is not None else "DFF",
            "per_frame_miou": per_frame,
            "miou_by_distance": by_dist,
            "mean_miou": mean,
            "ratio": mean / per_frame if per_frame > 0 else float("nan"),
            "frames_by_distance": self.counts,
            "key_interval": k,
            "per_class_iou_per_frame": self.per_dist[0].iou().tolist(),
        }
        if self.update is not None:
            res["update_miou"] = self.update.miou()
        if not any(self.counts):
            res.update({name: None for name in LABEL_KEYS if name in res})
        if self.against_teacher:
            agreement = [1.0] + [m.miou() for m in self.agree[1:]]
            res.update(agreement_by_distance=agreement, mean_agreement=sum(agreement) / k,
                       agreement_frames_by_distance=self.agree_counts)
        if self.motion is not None:
            res.update(motion_bins=self.motion.edges, miou_by_motion=self.motion.result())
        return res


@torch.no_grad()
def evaluate(model, store: FrameStore, key_interval: int, num_classes: int,
             ignore_index: int = 255, max_frames: int = 0, device="cpu",
             progress: bool = False, motion_bins=None, against_teacher: bool = False) -> dict:
    """Score every labelled frame t of the split with the key placed d = 0..K-1 frames before.

    A distance is scored only where its key t - d lies in the same split. d = 0 is the
    per-frame model (key features used directly). The loop runs over key positions s: the key
    network runs once on s, then frames s+1 .. s+K-1 are propagated from it (in one batch for
    direct propagation, frame by frame for chained) and scored at their distance. max_frames
    evenly subsamples the key positions. An Accel model's update branch is also scored alone.

    motion_bins: increasing edges in pixels, e.g. (2, 8): each scored pair with d >= 1 is also
    scored in its bin of motion, the mean DIS flow magnitude from t to its key (MotionBins):
    `miou_by_motion`. Off by default: DIS on every pair slows training's validation.
    against_teacher: also score every frame t of the split, labelled or not, at d = 1..K-1
    against the teacher, the model's own key output on t (mIoU with the teacher's class map as
    the label): `agreement_by_distance`, whose d = 0 entry is 1.0 by definition (the teacher
    agrees with itself), and `mean_agreement` over d = 0..K-1, averaged as mean_miou is.
    """
    model.eval()
    scores = _Scores(model, store, key_interval, num_classes, ignore_index, motion_bins, against_teacher, device)
    keys = _subsample([(c, s) for c, clip in enumerate(store.clips) for s in range(clip.start, clip.end)],
                      max_frames)
    # Keys last to first: the frames after a key were keys already, so their teacher maps are cached.
    for c, s in tqdm(keys[::-1], desc="eval", disable=not progress, leave=False):
        scores.from_key(c, s)
    return scores.result()


@torch.no_grad()
def evaluate_stream(model, store: FrameStore, policy, num_classes: int, ignore_index: int = 255,
                    device="cpu", progress: bool = False) -> dict:
    """Run a key-frame policy over every clip of the split as a video, through the VideoSegmenter
    that `dff infer` runs; mIoU and key-frame rate, and each clip's confusion matrix."""
    model.eval()
    cm = ConfusionMatrix(num_classes, ignore_index)
    first = store.frames[0][store.clips[0].start]
    seg = VideoSegmenter(model, short_side=min(first.shape[-2:]), device=device, policy=policy)  # frames: stored size
    per_clip = []
    for c, clip in enumerate(tqdm(store.clips, desc="stream", disable=not progress, leave=False)):
        frames = (store.frames[c][i].permute(1, 2, 0).numpy() for i in range(clip.start, clip.end))
        clip_cm = ConfusionMatrix(num_classes, ignore_index)
        for i, result in zip(range(clip.start, clip.end), seg.stream(frames)):
            if i in store.labels[c]:
                clip_cm.update(torch.from_numpy(result.labels), store.labels[c][i])
        cm.mat += clip_cm.mat
        per_clip.append(clip_cm.mat.tolist())
    stats = seg.runner.stats
    return {"miou": cm.miou(), "key_rate": stats.keys / max(1, stats.frames),
            "frames": stats.frames, "key_frames": stats.keys, "key_runs": stats.key_runs,
            "clip_confusions": per_clip}


@torch.no_grad()
def evaluate_consistency(model, store: FrameStore, key_interval: int, num_classes: int, ignore_index: int = 255,
                         device="cpu", warps: FlowWarps | None = None, reference: FrameStore | None = None) -> dict:
    """VC_8, VC_16 and TC (consistency.py) of every clip of the split run as a video with a key frame every
    key_interval frames, as `dff infer` streams it (StreamRunner); predictions at the labels' size.

    warps: TC's flow between consecutive frames (None: no TC), shared by calls on the same clips.
    reference: a store of the same clips whose labels VC scores and whose frames TC's flow runs on,
    when the model's frames (store) are of another size; default store.
    """
    model.eval()
    ref = reference or store
    meter = ConsistencyMeter(num_classes, ignore_index, VC_WINDOWS, warps)
    runner = StreamRunner(model, key_interval)
    for c, clip in enumerate(store.clips):
        runner.reset()
        meter.start_clip(c)
        for t in range(clip.start, clip.end):
            logits, _ = runner.step(to_float(store.frames[c][t])[None].to(device))
            seen = to_float(ref.frames[c][t])
            meter.add(t, class_map(at_size(logits, seen.shape[-2:])[0], 0), ref.labels[c].get(t),
                      seen if warps is not None else None)
    return {"consistency_key_interval": key_interval, **meter.result()}


def _row(name: str, n: int | None, value: float | None, ratio: float | None = None) -> str:
    """A table row: a None value prints as '-', a None count or ratio as blank."""
    v = f"{'-':>9}" if value is None else f"{value:>9.4f}"
    return f"{name:<18}{'' if n is None else n:>8}{v}" + ("" if ratio is None else f"{ratio:>8.3f}")


def _ratio(value: float | None, ref: float) -> float | None:
    return None if value is None else value / ref if ref > 0 else float("nan")


def format_table(res: dict) -> str:
    """Human-readable summary of an evaluate() result; mIoU rows only where labels were scored."""
    name, pf, k = res.get("model", "DFF"), res["per_frame_miou"], res["key_interval"]
    lines = [f"{'model':<18}{'frames':>8}{'mIoU':>9}{'ratio':>8}"]
    if pf is not None:
        lines.append(_row("per-frame", res["frames_by_distance"][0], pf, 1.0))
        for d, (m, n) in enumerate(zip(res["miou_by_distance"], res["frames_by_distance"])):
            lines.append(_row(f"{name} d={d}", n, m, _ratio(m, pf)))
        lines.append(_row(f"{name} mean k={k}", None, res["mean_miou"], res["ratio"]))
        if "update_miou" in res:
            lines.append(_row("update alone", res["frames_by_distance"][0], res["update_miou"],
                              _ratio(res["update_miou"], pf)))
    if "agreement_by_distance" in res:  # mIoU against the key output on the same frame
        for d, (a, n) in enumerate(zip(res["agreement_by_distance"], res["agreement_frames_by_distance"])):
            lines.append(_row(f"agree d={d}", n, a))
        lines.append(_row(f"agree mean k={k}", None, res["mean_agreement"]))
    for n in (8, 16):
        if res.get(f"vc_{n}") is not None:
            lines.append(_row(f"VC_{n} k={res['consistency_key_interval']}", res[f"vc_{n}_windows"], res[f"vc_{n}"]))
    if res.get("tc") is not None:
        lines.append(_row(f"TC k={res['consistency_key_interval']}", res["tc_pairs"], res["tc"]))
    for b in res.get("miou_by_motion", ()):
        span = f"{b['low']:g}+" if b["high"] is None else f"{b['low']:g}-{b['high']:g}"
        if pf is not None:
            lines.append(_row(f"motion {span} px", b["pairs"], b["miou"], _ratio(b["miou"], pf)))
        if "agreement" in b:
            lines.append(_row(f"agree {span} px", b["agreement_pairs"], b["agreement"]))
    return "\n".join(lines)


def write_json(obj: dict, path: str | Path) -> None:
    """Write a result dict as indented JSON, creating the folder; atomically (write_atomic)."""
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n"))
