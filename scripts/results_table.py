"""Markdown table of mIoU and throughput from `dff eval --json` and `dff bench --json` files.

usage: python scripts/results_table.py LABEL=EVAL.json:BENCH.json:METRIC [...]
METRIC is per_frame, mean (key at distances 0..K-1), fixed or adaptive (the streamed policies
of `dff eval --policy`). The first row is the per-frame reference for the ratios.

Throughput is relative to running the key network on every frame, from the bench's module
times: a stream with key-frame rate a costs a * t_key + (1 - a) * t_prop per frame; the
adaptive policy also computes flow on the frames it turns into keys (its signal).
"""
import json
import sys


def row(spec: str) -> tuple[str, float, float, str]:
    """(label, mIoU, throughput ratio, note) of one LABEL=EVAL:BENCH:METRIC spec."""
    label, rest = spec.rsplit("=", 1)  # labels may hold "=" (k=5), paths not
    ev_path, bench_path, metric = rest.rsplit(":", 2)
    ev, bench = json.load(open(ev_path)), json.load(open(bench_path))
    t_key, t_prop = bench["key_seconds"], bench["propagate_seconds"]
    k = ev["key_interval"]
    if metric == "per_frame":
        return label, ev["per_frame_miou"], 1.0, "key network on every frame"
    if metric == "mean":
        rate, extra, miou, note = 1 / k, 0.0, ev["mean_miou"], f"k={k}, mean over key distances 0..{k - 1}"
    else:
        s = ev[f"stream_{metric}"]
        rate, miou = s["key_rate"], s["miou"]
        extra = bench["module_seconds"]["flow"] if metric == "adaptive" else 0.0
        note = f"{metric} policy, key-frame rate {rate:.3f} ({s['key_frames']}/{s['frames']})"
    return label, miou, t_key / (rate * (t_key + extra) + (1 - rate) * t_prop), note


def main(specs: list[str]) -> None:
    rows = [row(s) for s in specs]
    ref = rows[0][1]
    print("| model | mIoU | % of per-frame | throughput vs per-frame | notes |")
    print("|---|---|---|---|---|")
    for label, miou, speed, note in rows:
        print(f"| {label} | {miou:.4f} | {100 * miou / ref:.1f}% | {speed:.2f}x | {note} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
