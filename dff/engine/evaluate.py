"""mIoU of the per-frame model and of DFF at every key-frame distance."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.store import FrameStore, to_float
from .metrics import ConfusionMatrix, class_map
from .video_segmenter import VideoSegmenter


def _subsample(items: list, n: int) -> list:
    """n evenly spaced items (all if n <= 0 or n >= len)."""
    if n <= 0 or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def propagate_batch(model, state, frames: torch.Tensor) -> torch.Tensor:
    """Logits of frames (T, 3, H, W), each warped in one step from the same key state."""
    return model.logits(model.propagate(state.expand(len(frames)), frames))


@torch.no_grad()
def evaluate(model, store: FrameStore, key_interval: int, num_classes: int,
             ignore_index: int = 255, max_frames: int = 0, device="cpu",
             progress: bool = False) -> dict:
    """Score every labelled frame t of the split with the key placed d = 0..K-1 frames before.

    A distance is scored only where its key t - d lies in the same split. d = 0 is the
    per-frame model (key features used directly). The loop runs over key positions s: the key
    network runs once on s, then frames s+1 .. s+K-1 are propagated from it (in one batch for
    direct propagation, frame by frame for chained) and scored at their distance. max_frames
    evenly subsamples the key positions. An Accel model's update branch is also scored alone.
    """
    model.eval()
    per_dist = [ConfusionMatrix(num_classes, ignore_index) for _ in range(key_interval)]
    update = ConfusionMatrix(num_classes, ignore_index) if model.has_update_branch else None
    counts = [0] * key_interval

    def frame(c: int, i: int) -> torch.Tensor:
        return to_float(store.frames[c][i])[None].to(device)

    def score(d: int, logits: torch.Tensor, label: torch.Tensor) -> None:
        per_dist[d].update(class_map(logits, 0), label)
        counts[d] += 1

    keys = _subsample([(c, s) for c, clip in enumerate(store.clips) for s in range(clip.start, clip.end)],
                      max_frames)
    for c, s in tqdm(keys, desc="eval", disable=not progress, leave=False):
        labels, end = store.labels[c], store.clips[c].end
        state = model.key(frame(c, s))
        if s in labels:
            score(0, model.logits(state, tuple(labels[s].shape))[0], labels[s])
            if update is not None:
                update.update(class_map(model.branch_logits("update", state.frame)[0], 0), labels[s])
        if model.propagation == "direct":
            ts = [s + d for d in range(1, key_interval) if s + d < end and s + d in labels]
            if ts:  # all distances from one key in one batch
                for t, logits in zip(ts, propagate_batch(model, state, torch.cat([frame(c, t) for t in ts]))):
                    score(t - s, logits, labels[t])
        else:
            for t in range(s + 1, min(s + key_interval, end)):
                state = model.propagate(state, frame(c, t))
                if t in labels:
                    score(t - s, model.logits(state)[0], labels[t])
    by_dist = [m.miou() for m in per_dist]
    per_frame = by_dist[0]
    mean = sum(by_dist) / len(by_dist)
    res = {
        "model": "Accel" if update is not None else "DFF",
        "per_frame_miou": per_frame,
        "miou_by_distance": by_dist,
        "mean_miou": mean,
        "ratio": mean / per_frame if per_frame > 0 else float("nan"),
        "frames_by_distance": counts,
        "key_interval": key_interval,
        "per_class_iou_per_frame": per_dist[0].iou().tolist(),
    }
    if update is not None:
        res["update_miou"] = update.miou()
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


def format_table(res: dict) -> str:
    """Human-readable summary of an evaluate() result."""
    name = res.get("model", "DFF")
    lines = [f"{'model':<16}{'frames':>8}{'mIoU':>9}{'ratio':>8}",
             f"{'per-frame':<16}{res['frames_by_distance'][0]:>8}{res['per_frame_miou']:>9.4f}{1.0:>8.3f}"]
    for d, (m, n) in enumerate(zip(res["miou_by_distance"], res["frames_by_distance"])):
        ratio = m / res["per_frame_miou"] if res["per_frame_miou"] > 0 else float("nan")
        lines.append(f"{name + ' d=' + str(d):<16}{n:>8}{m:>9.4f}{ratio:>8.3f}")
    lines.append(f"{name + ' mean k=' + str(res['key_interval']):<16}{'':>8}{res['mean_miou']:>9.4f}{res['ratio']:>8.3f}")
    if "update_miou" in res:
        u, pf = res["update_miou"], res["per_frame_miou"]
        ratio = u / pf if pf > 0 else float("nan")
        lines.append(f"{'update alone':<16}{res['frames_by_distance'][0]:>8}{u:>9.4f}{ratio:>8.3f}")
    return "\n".join(lines)


def write_json(obj: dict, path: str | Path) -> None:
    """Write a result dict as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")
