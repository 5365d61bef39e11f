"""mIoU of the per-frame model and of DFF at every key-frame distance."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.outputs import write_atomic
from ..data.store import FrameStore, to_float
from ..models.segmenter import upsample
from .consistency import ConsistencyMeter, FlowWarps
from .metrics import ConfusionMatrix, class_map
from .motion import MotionBins
from .stream import StreamSegmenter
from .video_segmenter import VideoSegmenter


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


# evaluate's mIoU results; None when the split has no labelled frame (agreement still works).
LABEL_KEYS = ("per_frame_miou", "miou_by_distance", "mean_miou", "ratio", "per_class_iou_per_frame", "update_miou")


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
    k = key_interval

    def matrices() -> list[ConfusionMatrix]:
        return [ConfusionMatrix(num_classes, ignore_index) for _ in range(k)]
    per_dist, counts, agree, agree_counts = matrices(), [0] * k, matrices(), [0] * k
    update = ConfusionMatrix(num_classes, ignore_index) if model.has_update_branch else None
    motion = None if motion_bins is None else MotionBins(motion_bins, num_classes, ignore_index, against_teacher)
    teachers: dict[tuple[int, int], torch.Tensor] = {}  # (clip, frame) -> teacher class map (uint8)

    def frame(c: int, i: int) -> torch.Tensor:
        return to_float(store.frames[c][i])[None].to(device)

    def teacher(c: int, t: int) -> torch.Tensor:
        if (c, t) not in teachers:  # a frame that max_frames left out of the key positions
            teachers[(c, t)] = class_map(model.logits(model.key(frame(c, t)))[0], 0).to(torch.uint8)
        return teachers[(c, t)]

    def scored(c: int, t: int) -> bool:
        return against_teacher or t in store.labels[c]

    def score(c: int, t: int, d: int, logits: torch.Tensor, magnitude: float | None = None) -> None:
        pred, label = class_map(logits, 0), store.labels[c].get(t)
        truth = teacher(c, t) if against_teacher else None
        if label is not None:
            at_label = class_map(at_size(logits[None], label.shape)[0], 0)
            per_dist[d].update(at_label, label)
            counts[d] += 1
            if magnitude is not None:
                motion.add(magnitude, at_label, label, None)
        if truth is not None:  # d = 0 is the teacher itself: counted, its agreement is 1 by definition
            if d:
                agree[d].update(pred, truth)
            agree_counts[d] += 1
            if magnitude is not None:
                motion.add(magnitude, pred, None, truth)

    keys = _subsample([(c, s) for c, clip in enumerate(store.clips) for s in range(clip.start, clip.end)],
                      max_frames)
    # Keys last to first: the frames after a key were keys already, so their teacher maps are
    # cached; the cache keeps only the maps of frames s .. s+K-1.
    for c, s in tqdm(keys[::-1], desc="eval", disable=not progress, leave=False):
        labels, end = store.labels[c], store.clips[c].end
        teachers = {ct: m for ct, m in teachers.items() if ct[0] == c and ct[1] < s + k}
        state = key_state = model.key(frame(c, s))
        if scored(c, s):
            logits = model.logits(state)[0]
            if against_teacher:
                teachers[(c, s)] = class_map(logits, 0).to(torch.uint8)
            score(c, s, 0, logits)
        if update is not None and s in labels:
            update.update(class_map(model.branch_logits("update", state.frame)[0], 0), labels[s])
        if model.propagation == "direct":
            ts = [t for t in range(s + 1, min(s + k, end)) if scored(c, t)]
            if ts:  # all distances from one key in one batch
                current = torch.cat([frame(c, t) for t in ts])
                mags = [None] * len(ts) if motion is None else motion.magnitudes(current, key_state.frame)
                for t, logits, m in zip(ts, propagate_batch(model, state, current), mags):
                    score(c, t, t - s, logits, m)
        else:
            for t in range(s + 1, min(s + k, end)):
                state = model.propagate(state, frame(c, t))
                if scored(c, t):
                    m = None if motion is None else motion.magnitudes(state.frame, key_state.frame)[0]
                    score(c, t, t - s, model.logits(state)[0], m)
    by_dist = [m.miou() for m in per_dist]
    per_frame, mean = by_dist[0], sum(by_dist) / k
    res = {
        "model": "Accel" if update is not None else "DFF",
        "per_frame_miou": per_frame,
        "miou_by_distance": by_dist,
        "mean_miou": mean,
        "ratio": mean / per_frame if per_frame > 0 else float("nan"),
        "frames_by_distance": counts,
        "key_interval": k,
        "per_class_iou_per_frame": per_dist[0].iou().tolist(),
    }
    if update is not None:
        res["update_miou"] = update.miou()
    if not any(counts):
        res.update({name: None for name in LABEL_KEYS if name in res})
    if against_teacher:
        agreement = [1.0] + [m.miou() for m in agree[1:]]
        res.update(agreement_by_distance=agreement, mean_agreement=sum(agreement) / k,
                   agreement_frames_by_distance=agree_counts)
    if motion is not None:
        res.update(motion_bins=motion.edges, miou_by_motion=motion.result())
    return res


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
    runner = seg.runner
    return {"miou": cm.miou(), "key_rate": runner.keys / max(1, runner.frames),
            "frames": runner.frames, "key_frames": runner.keys, "key_runs": runner.key_runs,
            "clip_confusions": per_clip}


@torch.no_grad()
def evaluate_consistency(model, store: FrameStore, key_interval: int, num_classes: int, ignore_index: int = 255,
                         device="cpu", warps: FlowWarps | None = None, reference: FrameStore | None = None,
                         windows=(8, 16)) -> dict:
    """VC_n and TC (consistency.py) of every clip of the split run as a video with a key frame every
    key_interval frames, as `dff infer` streams it (StreamSegmenter); predictions at the labels' size.

    warps: TC's flow between consecutive frames (None: no TC), shared by calls on the same clips.
    reference: a store of the same clips whose labels VC scores and whose frames TC's flow runs on,
    when the model's frames (store) are of another size; default store.
    """
    model.eval()
    ref = reference or store
    meter, runner = ConsistencyMeter(num_classes, ignore_index, windows, warps), StreamSegmenter(model, key_interval)
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
