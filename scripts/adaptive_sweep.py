"""Fixed vs adaptive key-frame policy on the val clips, over adaptive thresholds.

usage: python scripts/adaptive_sweep.py CONFIG CHECKPOINT [--key-interval K] [--thresholds 0.25,0.5,1]
Prints mIoU and achieved key-frame rate of each, so the adaptive policy can be compared with
the fixed one at (about) the same key rate, i.e. the same cost.
"""
import argparse
import json

from dff.config import load_config
from dff.engine.evaluate import evaluate_stream
from dff.engine.setup import load_split, load_trained, select_device
from dff.engine.stream import build_policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("--key-interval", type=int, default=5)
    ap.add_argument("--thresholds", default="0.25,0.5,1,2")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    cfg = load_config(args.config)
    dev = select_device("auto")
    model, ckpt = load_trained(cfg, args.checkpoint, dev)
    store, n, k = load_split(cfg, "val"), int(ckpt["num_classes"]), args.key_interval
    runs = [("fixed", None)] + [("adaptive", float(t)) for t in args.thresholds.split(",")]
    rows = []
    for name, thr in runs:
        res = evaluate_stream(model, store, build_policy(name, k, thr or 0.0), n, cfg["data"]["ignore_index"], dev)
        rows.append({"policy": name, "threshold": thr, **res})
        print(f"{name:<9} threshold {thr if thr is not None else '-':>5}  mIoU {res['miou']:.4f}  "
              f"key-frame rate {res['key_rate']:.4f} ({res['key_frames']}/{res['frames']})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
