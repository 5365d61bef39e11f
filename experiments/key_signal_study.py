"""Replay causal key-frame policies on saved pair confusions: does any cheap signal beat fixed?

usage: python -m experiments.key_signal_study CONFIG TABLES [--key-intervals 3,4,5,6] [--signals a,b]
           [--json PATH] [key=value ...]
TABLES comes from `key_placement_bound.py --tables` (its split, its gap, each pair's confusion
and output uncertainty). Every signal is one a policy has before deciding frame t with key s
(SIGNALS; "learned" is a ridge regression of the gain of a new key at t on all of them). Each is
fed to the real AdaptivePolicy frame by frame, its threshold bisected to the fixed policy's key
count, and the run scored from the tables exactly as streaming scores it (direct propagation):
seconds per run instead of a streamed evaluation, so signals can be screened at several key
intervals. A second family keeps the fixed schedule of key-network runs and adapts only which
key is held: "select" adopts a probed key when a regression on what is known after running it
predicts a gain; "select_oracle" adopts exactly when the labels say so (that family's ceiling).
The regressions are cross-validated: fitted on the even clips, replayed on the odd, and back.
How much is noise: the fixed policy at its other phases (first periodic key at 1 .. k) gives the
spread of one schedule's mIoU, and a bootstrap over clips (resampled with replacement, both
policies scored on the same draw) gives how often each policy beats fixed.
"""
import argparse
import json

import cv2
import numpy as np
import torch

from dff.config import load_config
from dff.engine.builders import load_split
from dff.inference.policies import FixedPolicy
from experiments.key_placement_bound import miou, read_tables, score, wrong
from experiments.policies import AdaptivePolicy


def sharpness(frame: torch.Tensor) -> float:
    """log variance of the Laplacian of a grey uint8 (3, H, W) frame: low when blurred."""
    grey = cv2.cvtColor(frame.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2GRAY)
    return float(np.log(cv2.Laplacian(grey, cv2.CV_32F).var() + 1e-6))


SIGNALS = {  # (clip, key s, current t) -> signal; a high value asks for a key
    "difference": lambda c, s, t: float((c["frames"][t].float() - c["frames"][s].float()).abs().mean() / 255),
    "uncertainty": lambda c, s, t: c["unc"][(s, t - 1)],  # the previous output's, as streamed
    "uncertainty_rise": lambda c, s, t: c["unc"][(s, t - 1)] - c["unc"][(s, s)],
    "sharper": lambda c, s, t: c["sharp"][t] - c["sharp"][s],
}


def features(c: dict, s: int, t: int) -> np.ndarray:
    """Every signal, the distance to the key and a constant."""
    return np.array([f(c, s, t) for f in SIGNALS.values()] + [t - s, 1.0])


def gain(c: dict, s: int, t: int, k: int) -> float:
    """Wrong pixels (% of scored) saved on frames t .. t+k-1 by a key at t instead of s."""
    pairs = [(u, (s, u), (t, u)) for u in range(t, min(t + k, c["length"])) if (t, u) in c["cms"]]
    saved = sum(wrong(c["cms"][old]) - wrong(c["cms"][new]) for _, old, new in pairs)
    return 100 * saved / max(1.0, sum(float(c["cms"][new].sum()) for _, _, new in pairs))


def probe_features(c: dict, s: int, t: int) -> np.ndarray:
    """What a policy holding key s knows once the key network has also run on t (and t was
    propagated from s): the uncertainty of both outputs of t and of the key, the difference."""
    u = c["unc"]
    return np.array([u[(t, t)] - u[(s, t)], u[(t, t)] - u[(s, s)], u[(s, t)] - u[(s, s)],
                     SIGNALS["difference"](c, s, t), t - s, 1.0])


def fit_gain(clips: list[dict], k: int, max_gap: int, feats=features, every: int = 1, lam: float = 1.0):
    """Ridge regression (standardised feats) of the gain of a key at t, for every `every`-th t."""
    pairs = [(c, s, t) for c in clips for t in range(every, c["length"], every)
             for s in range(max(0, t + k - max_gap), t)]
    x = np.stack([feats(*p) for p in pairs])
    y = np.array([gain(*p, k) for p in pairs])
    mu, sd = x[:, :-1].mean(0), x[:, :-1].std(0) + 1e-9
    z = np.c_[(x[:, :-1] - mu) / sd, x[:, -1]]
    w = np.linalg.solve(z.T @ z + lam * np.eye(z.shape[1]), z.T @ y)
    return lambda c, s, t: float(np.r_[(feats(c, s, t)[:-1] - mu) / sd, 1.0] @ w)


def _scored(c: dict, key: int, t: int, total):
    """total plus frame t's confusion from key (unlabelled frames add nothing)."""
    if (t, t) not in c["cms"]:
        return total
    if (key, t) not in c["cms"]:
        raise SystemExit(f"frame {t} is {t - key} frames from its key: beyond the tables' gap")
    return total + c["cms"][(key, t)]


def replay(clips: list[dict], policy, signal) -> tuple[torch.Tensor, list[list[int]]]:
    """(summed confusion, key positions per clip) of a policy run over the clips, from the tables."""
    total, placements = 0, []
    for c in clips:
        policy.reset()
        keys = [0]
        for t in range(c["length"]):
            if t and (policy.is_key(signal(c, keys[-1], t)) if signal else policy.scheduled()):
                keys.append(t)
            total = _scored(c, keys[-1], t, total)
        placements.append(keys)
    return total, placements


def replay_select(clips: list[dict], k: int, accept, max_gap: int) -> tuple[torch.Tensor, list[list[int]]]:
    """The key network runs every k frames (the fixed policy's cost, plus propagating the probed
    frame); its output replaces the held key only when accept(clip, s, t), or when the held key
    would otherwise fall beyond the tables' gap before the next probe. As replay."""
    total, placements = 0, []
    for c in clips:
        keys = [0]
        for t in range(c["length"]):
            if t and t % k == 0 and (t + k - keys[-1] > max_gap or accept(c, keys[-1], t)):
                keys.append(t)
            total = _scored(c, keys[-1], t, total)
        placements.append(keys)
    return total, placements


def unfold(even: list, odd: list) -> list:
    """Per-clip items of the even and the odd clips (folds clips[0::2], clips[1::2]) in clip order."""
    return [x for pair in zip(even, odd) for x in pair] + even[len(odd):]


def count(placements: list[list[int]]) -> int:
    """Key frames of all clips."""
    return sum(map(len, placements))


def matched(clips: list[dict], k: int, signal, max_gap: int) -> tuple[torch.Tensor | None, int | None, float | None]:
    """(total, keys, threshold) of the adaptive run with the fixed policy's key count (bisecting
    the threshold over the signal's values), or Nones when no threshold gives it."""
    target = count(replay(clips, FixedPolicy(k), None)[1])
    values = sorted({signal(c, s, t) for c in clips for t in range(1, c["length"])
                     for s in range(max(0, t - max_gap + 1), t)})
    lo, hi = 0, len(values) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        total, placed = replay(clips, AdaptivePolicy(k, values[mid]), signal)
        keys = count(placed)
        if keys == target:
            return total, keys, values[mid]
        lo, hi = (mid + 1, hi) if keys > target else (lo, mid - 1)
    return None, None, None


def fixed_phases(clips: list[dict], k: int) -> list[tuple[int, float]]:
    """(keys, mIoU) of the fixed schedule with its first periodic key at o = 1 .. k (o = k is
    FixedPolicy's; frame 0 is always a key)."""
    out = []
    for o in range(1, k + 1):
        placed = [sorted({0, *range(o, c["length"], k)}) for c in clips]
        out.append((count(placed), score(clips, placed)["miou"]))
    return out


def bootstrap(a: list[torch.Tensor], b: list[torch.Tensor], reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Per-clip confusions of two runs -> (share of clip resamples where a's mIoU beats b's,
    5th and 95th percentile of the difference in points)."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(reps):
        pick = rng.integers(0, len(a), len(a))
        diffs.append(100 * (miou(sum(a[i] for i in pick)) - miou(sum(b[i] for i in pick))))
    diffs = np.array(diffs)
    return float((diffs > 0).mean()), float(np.percentile(diffs, 5)), float(np.percentile(diffs, 95))


def load_clips(cfg: dict, path: str) -> tuple[list[dict], int]:
    """The tables' clips with their frames and sharpness, and the tables' gap."""
    clips, split, max_gap = read_tables(path)
    store = load_split(cfg, split)
    for c, (clip, meta) in enumerate(zip(clips, store.clips)):
        if clip["length"] != meta.end - meta.start:
            raise SystemExit(f"{path}: clip {c} has {clip['length']} frames, the split {meta.end - meta.start}")
        if any((t, t) not in clip["cms"] for t in range(clip["length"])):
            # the uncertainty signals read the previous frame's output, kept for labelled frames only
            raise SystemExit(f"{path}: clip {c} ({meta.frames[meta.start].parent}) has unlabelled frames; "
                             "the replay needs every frame labelled")
        clip["frames"] = [store.frames[c][i] for i in range(meta.start, meta.end)]
        clip["sharp"] = [sharpness(f) for f in clip["frames"]]
    return clips, max_gap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("tables")
    ap.add_argument("--key-intervals", default="3,4,5,6")
    ap.add_argument("--signals", default=",".join([*SIGNALS, "learned", "select", "select_oracle"]))
    ap.add_argument("--json", help="write the rows here")
    args, overrides = ap.parse_known_args()
    clips, max_gap = load_clips(load_config(args.config, overrides), args.tables)
    folds = [clips[0::2], clips[1::2]]
    each = lambda run, cs: [run([c]) for c in cs]  # per-clip confusions (policies restart per clip)
    rows = []
    for k in map(int, args.key_intervals.split(",")):
        fixed = each(lambda cs: replay(cs, FixedPolicy(k), None)[0], clips)
        keys = count(replay(clips, FixedPolicy(k), None)[1])
        phases = fixed_phases(clips, k)
        row = {"key_interval": k, "keys": keys, "fixed": miou(sum(fixed)), "fixed_phases": phases}
        print(f"k={k} keys {keys}  fixed {row['fixed']:.4f}  (other phases: " + ", ".join(
            f"{m:.4f} at {n} keys" for n, m in phases[:-1]) + ")", flush=True)
        for name in args.signals.split(","):
            if name == "learned":  # each fold replayed with the regression fitted on the other
                runs = []
                for fold, other in zip(folds, folds[::-1]):
                    f = fit_gain(other, k, max_gap)
                    thr = matched(fold, k, f, max_gap)[2]
                    runs.append(None if thr is None else each(lambda cs: replay(cs, AdaptivePolicy(k, thr), f)[0], fold))
                per_clip = None if None in runs else unfold(*runs)
            elif name == "select":  # accept a probed key when the regression predicts a gain
                runs = [each(lambda cs, f=fit_gain(other, k, max_gap, probe_features, k): replay_select(
                    cs, k, lambda *p: f(*p) > 0, max_gap)[0], fold) for fold, other in zip(folds, folds[::-1])]
                per_clip = unfold(*runs)
            elif name == "select_oracle":  # accept exactly when the labels say it gains: the ceiling
                per_clip = each(lambda cs: replay_select(cs, k, lambda *p: gain(*p, k) > 0, max_gap)[0], clips)
            else:
                thr = matched(clips, k, SIGNALS[name], max_gap)[2]
                per_clip = None if thr is None else each(
                    lambda cs: replay(cs, AdaptivePolicy(k, thr), SIGNALS[name])[0], clips)
            if per_clip is None:
                row[name] = None
                print(f"  {name:16s} no threshold gives {keys} keys", flush=True)
                continue
            p_win, lo, hi = bootstrap(per_clip, fixed)
            row[name] = miou(sum(per_clip))
            row[name + "_vs_fixed"] = {"p_beats": p_win, "points_5_95": [lo, hi]}
            print(f"  {name:16s} {row[name]:.4f}  beats fixed in {100 * p_win:.0f}% of clip resamples "
                  f"(difference {lo:+.2f} .. {hi:+.2f} points, 5-95%)", flush=True)
        rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
