"""mIoU of the per-frame model and of DFF at every key-frame distance."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.datasets import FrameStore, to_float
from .metrics import ConfusionMatrix


def _subsample(items: list, n: int) -> list:
    """n evenly spaced items (all if n <= 0 or n >= len)."""
    if n <= 0 or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


@torch.no_grad()
def evaluate(model, store: FrameStore, key_interval: int, num_classes: int,
             ignore_index: int = 255, max_frames: int = 0, device="cpu",
             progress: bool = False) -> dict:
    """Score every labelled frame t of the split with the key placed d = 0..K-1 frames before.

    A distance is scored only where its key t - d lies in the same split. d = 0 is the
    per-frame model (key features used directly). Key states are cached for the K frames a
    target can reach, so every frame's backbone runs once.
    """
    model.eval()
    per_dist = [ConfusionMatrix(num_classes, ignore_index) for _ in range(key_interval)]
    counts = [0] * key_interval
    cache: dict[tuple[int, int], dict] = {}

    def state(c: int, i: int) -> dict:
        if (c, i) not in cache:
            cache[(c, i)] = model.forward_key(to_float(store.frames[c][i])[None].to(device))
        return cache[(c, i)]

    targets = _subsample(store.targets(), max_frames)
    for c, t in tqdm(targets, desc="eval", disable=not progress, leave=False):
        for key in [k for k in cache if k[0] != c or k[1] <= t - key_interval]:
            del cache[key]
        label = store.labels[c][t]
        size = tuple(label.shape)
        pred = model.forward_state(state(c, t), size).argmax(1)[0]
        per_dist[0].update(pred, label)
        counts[0] += 1
        dists = [d for d in range(1, key_interval) if t - d >= store.clips[c].start]
        if dists:  # all distances of one target in one batch
            keys = [state(c, t - d) for d in dists]
            batch = {k: torch.cat([s[k] for s in keys]) for k in ("frame", "feat")}
            cur = to_float(store.frames[c][t])[None].to(device).expand(len(dists), -1, -1, -1)
            preds = model.forward_propagate(cur, batch).argmax(1)
            for d, p in zip(dists, preds):
                per_dist[d].update(p, label)
                counts[d] += 1
    by_dist = [m.miou() for m in per_dist]
    per_frame = by_dist[0]
    mean = sum(by_dist) / len(by_dist)
    return {
        "per_frame_miou": per_frame,
        "miou_by_distance": by_dist,
        "mean_miou": mean,
        "ratio": mean / per_frame if per_frame > 0 else float("nan"),
        "frames_by_distance": counts,
        "key_interval": key_interval,
        "per_class_iou_per_frame": per_dist[0].iou().tolist(),
    }


@torch.no_grad()
def evaluate_stream(model, store: FrameStore, policy, num_classes: int, ignore_index: int = 255,
                    device="cpu", progress: bool = False) -> dict:
    """Run a key-frame policy over every clip of the split as a video; mIoU and key-frame rate."""
    from .stream import StreamSegmenter

    model.eval()
    cm = ConfusionMatrix(num_classes, ignore_index)
    runner = StreamSegmenter(model, policy)
    for c, clip in enumerate(tqdm(store.clips, desc="stream", disable=not progress, leave=False)):
        runner.reset()
        for i in range(clip.start, clip.end):
            logits, _ = runner.step(to_float(store.frames[c][i])[None].to(device))
            if i in store.labels[c]:
                label = store.labels[c][i]
                pred = F.interpolate(logits, size=tuple(label.shape), mode="bilinear", align_corners=False)
                cm.update(pred.argmax(1)[0], label)
    return {"miou": cm.miou(), "key_rate": runner.keys / max(1, runner.frames),
            "frames": runner.frames, "key_frames": runner.keys}


def format_table(res: dict) -> str:
    """Human-readable summary of an evaluate() result."""
    lines = [f"{'model':<16}{'frames':>8}{'mIoU':>9}{'ratio':>8}",
             f"{'per-frame':<16}{res['frames_by_distance'][0]:>8}{res['per_frame_miou']:>9.4f}{1.0:>8.3f}"]
    for d, (m, n) in enumerate(zip(res["miou_by_distance"], res["frames_by_distance"])):
        ratio = m / res["per_frame_miou"] if res["per_frame_miou"] > 0 else float("nan")
        lines.append(f"{'DFF d=' + str(d):<16}{n:>8}{m:>9.4f}{ratio:>8.3f}")
    lines.append(f"{'DFF mean k=' + str(res['key_interval']):<16}{'':>8}{res['mean_miou']:>9.4f}{res['ratio']:>8.3f}")
    return "\n".join(lines)


def write_json(obj: dict, path: str | Path) -> None:
    """Write a result dict as indented JSON, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")
