"""What a probed frame costs when streamed: the probe policy's throughput next to fixed.

usage: python -m experiments.probe_bench CONFIG [--size 240x427] [--key-intervals 1,3,4,5,6]
           [--reps 15] [--json PATH] [key=value ...]
A probed frame runs the key network, propagates the held key and scores both segmentations
(experiments/policies.py). Timed in turns with dff bench's streamed key and propagated steps
(dff/engine/bench.py), each the median StreamRunner step: at key interval k the fixed policy
runs k frames in t_key + (k-1) t_prop, the probe policy (every probe adopted: margin +inf) in
t_probe + (k-1) t_prop; both are printed as speedups over the key network on every frame.
"""
import argparse
import json
import statistics

import torch

from dff.config import load_config
from dff.engine.bench import stream_steps
from dff.engine.timing import time_in_turns
from dff.engine.builders import model_from_config, num_classes_of, select_device
from experiments.policies import ProbePolicy


@torch.no_grad()
def probe_bench(cfg: dict, size: tuple[int, int], key_intervals: list[int], reps: int, device: str = "auto") -> dict:
    """Median streamed step of a key, a propagated and a probed frame, and the speedups they imply."""
    dev = select_device(device)
    model = model_from_config(cfg, num_classes_of(cfg)).to(dev).eval()
    clip = torch.rand(max(2, *key_intervals), 3, *size, device=dev)
    steps, probes = [], []
    time_in_turns({"stream": lambda: steps.append(stream_steps(model, clip, dev)),
                   "probe": lambda: probes.append(stream_steps(model, clip[:2], dev, ProbePolicy(1, float("inf"))))},
                  reps, dev)
    t_key = statistics.median(s[0] for s in steps[1:])  # [0]: the warm-up
    t_prop = statistics.median(t for s in steps[1:] for t in s[1:])
    t_probe = statistics.median(s[1] for s in probes[1:])
    rows = [{"key_interval": k, "stream_speedup": k * t_key / (t_key + (k - 1) * t_prop),
             "probe_stream_speedup": k * t_key / (t_probe + (k - 1) * t_prop)} for k in key_intervals]
    return {"size": list(size), "stream_key_seconds": t_key, "stream_propagate_seconds": t_prop,
            "stream_probe_seconds": t_probe, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--size", default="240x427")
    ap.add_argument("--key-intervals", default="1,3,4,5,6")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--json", help="write the results here")
    args, overrides = ap.parse_known_args()
    cfg = load_config(args.config, overrides)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    res = probe_bench(cfg, size, [int(k) for k in args.key_intervals.split(",")], args.reps)
    print(f"key {res['stream_key_seconds'] * 1e3:.1f} ms, propagated {res['stream_propagate_seconds'] * 1e3:.1f} ms, "
          f"probed {res['stream_probe_seconds'] * 1e3:.1f} ms (streamed steps, medians)")
    for r in res["rows"]:
        print(f"k={r['key_interval']}: fixed {r['stream_speedup']:.2f}x  probe {r['probe_stream_speedup']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
