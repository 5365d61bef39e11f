"""Markdown table of mIoU and throughput from `dff eval --json` and `dff bench --json` files.

usage: python scripts/results_table.py LABEL=EVAL.json:BENCH.json:METRIC [...]
METRIC is per_frame, mean (key at distances 0..K-1), fixed or adaptive (the streamed policies
of `dff eval --policy`). The first row is the per-frame reference for the ratios.

Throughput is relative to running the key network on every frame, from the bench's module
times: a stream with key-frame rate a costs a * t_key + (1 - a) * t_prop per frame; the
adaptive policy also computes flow on the frames it turns into keys (its signal). The
"streamed" column does the same with the bench's median StreamRunner step times (benches
written before those were measured show "-").
"""
import json
import sys


def speedup(t_key: float, t_prop: float, rate: float, extra: float) -> float:
    """Per-frame cost t_key over the cost of a stream with key-frame rate `rate`."""
    return t_key / (rate * (t_key + extra) + (1 - rate) * t_prop)


def row(spec: str) -> tuple[str, float, float, float | None, str]:
    """(label, mIoU, throughput ratio by modules, streamed or None, note) of LABEL=EVAL:BENCH:METRIC."""
    label, rest = spec.rsplit("=", 1)  # labels may hold "=" (k=5), paths not
    ev_path, bench_path, metric = rest.rsplit(":", 2)
    ev, bench = json.load(open(ev_path)), json.load(open(bench_path))
    t_key, t_prop = bench["key_seconds"], bench["propagate_seconds"]
    k = ev["key_interval"]
    streamed = "stream_key_seconds" in bench
    if metric == "per_frame":
        return label, ev["per_frame_miou"], 1.0, 1.0 if streamed else None, "key network on every frame"
    if metric == "mean":
        rate, extra, miou, note = 1 / k, 0.0, ev["mean_miou"], f"k={k}, mean over key distances 0..{k - 1}"
    else:
        s = ev[f"stream_{metric}"]
        rate, miou = s["key_rate"], s["miou"]
        extra = bench["module_seconds"]["flow"] if metric == "adaptive" else 0.0
        note = f"{metric} policy, key-frame rate {rate:.3f} ({s['key_frames']}/{s['frames']})"
    stream = (speedup(bench["stream_key_seconds"], bench["stream_propagate_seconds"], rate, extra)
              if streamed else None)
    return label, miou, speedup(t_key, t_prop, rate, extra), stream, note


def main(specs: list[str]) -> None:
    rows = [row(s) for s in specs]
    ref = rows[0][1]
    print("| model | mIoU | % of per-frame | throughput vs per-frame | streamed | notes |")
    print("|---|---|---|---|---|---|")
    for label, miou, speed, stream, note in rows:
        stream = "-" if stream is None else f"{stream:.2f}x"
        print(f"| {label} | {miou:.4f} | {100 * miou / ref:.1f}% | {speed:.2f}x | {stream} | {note} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
