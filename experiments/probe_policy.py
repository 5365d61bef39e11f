"""Fixed vs the probe key-frame policy, streamed on the val clips at the same key-network runs.

usage: python -m experiments.probe_policy CONFIG CHECKPOINT [--key-intervals 3,4,5,6] [--margins 0.5]
           [--json PATH] [key=value ...]
For every key interval k: the fixed policy, then the probe policy at each margin (the key
network runs on the same frames; a probe is refused when the held key explains the frame's
motion better by more than the margin, see experiments/policies.py). Printed: mIoU, adopted keys,
key-network runs, and a paired bootstrap over clips (how often probe beats fixed when the clips
are resampled, and the 5-95% range of the difference in points). With several margins, also
the margin cross-validated over clips: each half of the clips (even, odd) run at the margin that
scored best on the other half.
"""
import argparse
import json

import torch

from dff.config import load_config
from dff.engine.builders import attach_ground_truth_flow, load_split, load_trained, select_device
from dff.engine.evaluate import evaluate_stream
from dff.inference.policies import FixedPolicy
from experiments.key_placement_bound import miou
from experiments.key_signal_study import bootstrap, unfold
from experiments.policies import ProbePolicy


def cross_validated(runs: dict[float, list[torch.Tensor]]) -> tuple[list[torch.Tensor], list[float]]:
    """Per-clip confusions with each half of the clips (even, odd) taken from the margin whose run
    scored best on the other half; and the two margins chosen."""
    clips = list(range(len(next(iter(runs.values())))))
    folds = [clips[0::2], clips[1::2]]
    chosen = [max(runs, key=lambda m: miou(sum(runs[m][i] for i in other))) for other in folds[::-1]]
    return unfold(*[[runs[m][i] for i in fold] for m, fold in zip(chosen, folds)]), chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("--key-intervals", default="3,4,5,6")
    ap.add_argument("--margins", default="0.5")
    ap.add_argument("--json", help="write the rows here")
    args, overrides = ap.parse_known_args()
    cfg = load_config(args.config, overrides)
    dev = select_device("auto")
    model, ckpt = load_trained(cfg, args.checkpoint, dev)
    store, n = load_split(cfg, "val"), int(ckpt["num_classes"])
    attach_ground_truth_flow(model, store)
    rows = []
    for k in map(int, args.key_intervals.split(",")):
        fixed = evaluate_stream(model, store, FixedPolicy(k), n, cfg["data"]["ignore_index"], dev)
        print(f"k={k} fixed {fixed['miou']:.4f}  keys {fixed['key_frames']}", flush=True)
        base, runs = [torch.tensor(m) for m in fixed["clip_confusions"]], {}
        for margin in map(float, args.margins.split(",")):
            res = evaluate_stream(model, store, ProbePolicy(k, margin), n, cfg["data"]["ignore_index"], dev)
            runs[margin] = [torch.tensor(m) for m in res["clip_confusions"]]
            p_win, lo, hi = bootstrap(runs[margin], base)
            rows.append({"key_interval": k, "margin": margin, "fixed": fixed["miou"], "fixed_keys": fixed["key_frames"],
                         "probe": res["miou"], "keys": res["key_frames"], "key_runs": res["key_runs"],
                         "p_beats_fixed": p_win, "points_5_95": [lo, hi],
                         "fixed_clips": fixed["clip_confusions"], "probe_clips": res["clip_confusions"]})
            print(f"  probe margin {margin:g}: {res['miou']:.4f}  keys {res['key_frames']}, key network ran "
                  f"{res['key_runs']} times; beats fixed in {100 * p_win:.0f}% of clip resamples "
                  f"({lo:+.2f} .. {hi:+.2f} points, 5-95%)", flush=True)
        if len(runs) > 1 and len(base) > 1:  # each half needs the other to choose from
            per_clip, chosen = cross_validated(runs)
            p_win, lo, hi = bootstrap(per_clip, base)
            rows.append({"key_interval": k, "margin": "cross-validated", "chosen": chosen, "fixed": fixed["miou"],
                         "probe": miou(sum(per_clip)), "p_beats_fixed": p_win, "points_5_95": [lo, hi]})
            print(f"  probe, margin chosen on the other half of the clips ({chosen[0]:g} for the even, "
                  f"{chosen[1]:g} for the odd): {miou(sum(per_clip)):.4f}; beats fixed in {100 * p_win:.0f}% "
                  f"of clip resamples ({lo:+.2f} .. {hi:+.2f} points, 5-95%)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
