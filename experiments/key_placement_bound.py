"""How much can key-frame placement win? The best placement at a given key count, in hindsight.

usage: python -m experiments.key_placement_bound CONFIG CHECKPOINT [--key-interval 5] [--max-gap 10]
           [--split val] [--tables PATH] [--json PATH] [key=value ...]

Every val frame t is segmented from every key s with 0 <= t - s < max-gap (direct propagation, as
streamed: the key frame itself gets the reference branch alone) and each pair's confusion matrix
is kept. Per clip (its first frame is always a key, as when streaming), dynamic programming finds
for every key count the placement with the fewest wrong pixels; a knapsack over clips spends a
total budget. Printed: the fixed policy (a key every k frames: its mIoU must equal the streamed
fixed policy's), the best timing with each clip's fixed key count, and the best placement at the
fixed key count and at fewer keys (keys also move between clips); and, as a check on how much
of that gain is the labels' noise chosen in hindsight, the placement fitted on the even frames'
labels scored on the odd frames against the fixed policy there. No causal
policy can beat the best placement, so its gain over fixed bounds what an adaptive policy can win.
(Fewest wrong pixels is a proxy for the best mIoU, so the bound is close, not exact.)
--tables keeps the pair confusions in a file (reused when it exists; experiments/key_signal_study.py
replays causal policies on them).
"""
import argparse
import json
from pathlib import Path

import torch

from dff.config import load_config
from dff.data.frames import to_float
from dff.engine.builders import load_split, load_trained, select_device
from dff.engine.evaluate import propagate_batch
from dff.engine.metrics import ConfusionMatrix

INF = float("inf")


@torch.no_grad()
def pair_confusions(model, store, n: int, ignore: int, max_gap: int, dev) -> list[dict]:
    """Per clip: {(s, t): confusion matrix of labelled frame t segmented from key s} and
    {(s, t): that output's uncertainty, 1 - mean max class probability}."""
    out = []
    for c, clip in enumerate(store.clips):
        labels, cms, unc = store.labels[c], {}, {}

        def add(s, t, logits):
            cm = ConfusionMatrix(n, ignore)
            cm.update(logits.argmax(0), labels[t])
            cms[(s - clip.start, t - clip.start)] = cm.mat.clone()
            unc[(s - clip.start, t - clip.start)] = float(1 - logits.softmax(0).amax(0).mean())

        for s in range(clip.start, clip.end):
            state = model.key(to_float(store.frames[c][s])[None].to(dev))
            if s in labels:
                add(s, s, model.logits(state, tuple(labels[s].shape))[0])
            ts = [t for t in range(s + 1, min(s + max_gap, clip.end)) if t in labels]
            if ts:
                cur = torch.cat([to_float(store.frames[c][t])[None].to(dev) for t in ts])
                for t, logits in zip(ts, propagate_batch(model, state, cur)):
                    add(s, t, logits)
        out.append({"length": clip.end - clip.start, "cms": cms, "unc": unc})
        print(f"clip {c + 1}/{len(store.clips)}: {clip.end - clip.start} frames", flush=True)
    return out


def read_tables(path: str, max_gap: int | None = None) -> tuple[list[dict], str, int]:
    """(clips, split, gap) of pair tables saved by --tables, pairs limited to max_gap."""
    saved = torch.load(path, weights_only=True)
    gap = saved["max_gap"] if max_gap is None else max_gap
    if gap > saved["max_gap"]:
        raise SystemExit(f"{path}: holds pairs up to gap {saved['max_gap']}, not {gap}")
    clips = [{"length": c["length"],
              "cms": {(s, t): cm for (s, t), cm in zip(c["pairs"].tolist(), c["mats"]) if t - s < gap},
              "unc": {(s, t): u for (s, t), u in zip(c["pairs"].tolist(), c["unc"].tolist()) if t - s < gap}}
             for c in saved["clips"]]
    return clips, saved["split"], gap


def tables(model, cfg: dict, split: str, n: int, max_gap: int, dev, path: str | None) -> list[dict]:
    """pair_confusions of a split, read from / saved to path when given."""
    if path and Path(path).is_file():
        clips, saved_split, _ = read_tables(path, max_gap)
        if saved_split != split:
            raise SystemExit(f"{path}: holds split {saved_split!r}, not {split!r}")
        return clips
    clips = pair_confusions(model, load_split(cfg, split), n, cfg["data"]["ignore_index"], max_gap, dev)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"split": split, "max_gap": max_gap, "clips": [
            {"length": c["length"], "pairs": torch.tensor(list(c["cms"])), "mats": torch.stack(list(c["cms"].values())),
             "unc": torch.tensor(list(c["unc"].values()))}
            for c in clips]}, path)
    return clips


def segment(clip: dict, s: int, e: int) -> torch.Tensor:
    """Summed confusion of frames s .. e-1 all segmented from key s."""
    return sum((clip["cms"][(s, t)] for t in range(s, e) if (s, t) in clip["cms"]),
               torch.zeros_like(next(iter(clip["cms"].values()))))


def only(clips: list[dict], parity: int) -> list[dict]:
    """The clips with only the frames t of the given parity scored (placements still cover all)."""
    return [{**c, "cms": {st: cm for st, cm in c["cms"].items() if st[1] % 2 == parity}} for c in clips]


def wrong(cm: torch.Tensor) -> float:
    """Misclassified pixels of a confusion matrix."""
    return float(cm.sum() - cm.diag().sum())


def best_per_count(clip: dict, max_gap: int) -> dict[int, tuple[float, list[int]]]:
    """Key count m -> (fewest wrong pixels, key positions) over placements with gaps <= max_gap."""
    length = clip["length"]
    cost = {(s, e): wrong(segment(clip, s, e)) for s in range(length)
            for e in range(s + 1, min(s + max_gap, length) + 1)}
    best = {(1, e): (cost[(0, e)], [0]) for e in range(1, min(max_gap, length) + 1)}
    for m in range(2, length + 1):
        for e in range(m, length + 1):
            cands = [(best[(m - 1, s)][0] + cost[(s, e)], best[(m - 1, s)][1] + [s])
                     for s in range(max(m - 1, e - max_gap), e) if (m - 1, s) in best]
            if cands:
                best[(m, e)] = min(cands)
    return {m: best[(m, length)] for m in range(1, length + 1) if (m, length) in best}


def allocate(per_clip: list[dict], total: int) -> list[list[int]] | None:
    """Key positions per clip with `total` keys in all and the fewest wrong pixels (knapsack)."""
    table = {0: (0.0, [])}
    for options in per_clip:
        nxt = {}
        for used, (cost, picks) in table.items():
            for m, (c, keys) in options.items():
                if used + m <= total and cost + c < nxt.get(used + m, (INF,))[0]:
                    nxt[used + m] = (cost + c, picks + [keys])
        table = nxt
    return table[total][1] if total in table else None


def miou(total: torch.Tensor) -> float:
    """mIoU of a summed confusion matrix."""
    cm = ConfusionMatrix(len(total))
    cm.mat = total
    return cm.miou()


def score(clips: list[dict], placements: list[list[int]]) -> dict:
    """mIoU and wrong pixels of every frame segmented from the latest key of its placement."""
    total = sum(segment(clip, s, e) for clip, keys in zip(clips, placements)
                for s, e in zip(keys, keys[1:] + [clip["length"]]))
    return {"miou": miou(total), "wrong_pixels": wrong(total)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("--key-interval", type=int, default=5)
    ap.add_argument("--max-gap", type=int, default=10, help="longest key interval a placement may use")
    ap.add_argument("--split", default="val")
    ap.add_argument("--tables", help="pair confusions file: read if it exists, else written")
    ap.add_argument("--json", help="write the results here")
    args, overrides = ap.parse_known_args()
    cfg = load_config(args.config, overrides)
    if cfg["model"]["propagation"] != "direct":
        raise SystemExit("key_placement_bound: needs model.propagation=direct (each pair is independent)")
    dev = select_device("auto")
    model, ckpt = load_trained(cfg, args.checkpoint, dev)
    n, k = int(ckpt["num_classes"]), args.key_interval
    clips = tables(model, cfg, args.split, n, args.max_gap, dev, args.tables)
    fixed = [list(range(0, c["length"], k)) for c in clips]
    n_fixed = sum(map(len, fixed))
    rows = [{"placement": "fixed", "keys": n_fixed, **score(clips, fixed)}]
    options = [best_per_count(c, args.max_gap) for c in clips]
    # Timing alone: each clip keeps the fixed policy's key count, only the positions move.
    timing = [opts[len(keys)][1] for opts, keys in zip(options, fixed)]
    rows.append({"placement": "best timing per clip", "keys": n_fixed, **score(clips, timing),
                 "keys_per_clip": [len(k) for k in timing]})
    for total in sorted({n_fixed, *(round(n_fixed * f) for f in (0.6, 0.7, 0.8, 0.9))}, reverse=True):
        placement = allocate(options, total)
        if placement is not None:
            gaps = [b - a for keys, c in zip(placement, clips) for a, b in zip(keys, keys[1:] + [c["length"]])]
            rows.append({"placement": "best in hindsight", "keys": total, **score(clips, placement),
                         "longest_gap": max(gaps), "shortest_gap": min(gaps),
                         "keys_per_clip": [len(k) for k in placement]})
    # Held out: placed with the even frames' labels, scored on the odd frames only. What survives
    # is structure a policy could find; what vanishes was the labels' noise, picked in hindsight.
    even = allocate([best_per_count(c, args.max_gap) for c in only(clips, 0)], n_fixed)
    rows.append({"placement": "fixed, odd frames", "keys": n_fixed, **score(only(clips, 1), fixed)})
    rows.append({"placement": "best on even, odd frames", "keys": n_fixed, **score(only(clips, 1), even)})
    frames = sum(c["length"] for c in clips)
    for r in rows:
        print(f"{r['placement']:<25} keys {r['keys']:>4}/{frames}  mIoU {r['miou']:.4f}  "
              f"wrong pixels {r['wrong_pixels']:.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"frames": frames, "max_gap": args.max_gap, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
