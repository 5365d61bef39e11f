"""Fixed vs adaptive key-frame policy on the val clips, at the fixed policy's key rate.

usage: python -m experiments.adaptive_sweep CONFIG CHECKPOINT [--signal flow|residual|difference|uncertainty|disagreement]
           [--thresholds 0.25,0.5,1 | --match] [--json PATH] [--add-to-eval EVAL_JSON OUT] [key=value ...]
--match bisects the adaptive threshold until the adaptive policy takes as many key frames as
the fixed one (the same cost), so the two mIoUs compare directly.
"""
import argparse
import json

from dff.config import load_config
from dff.engine.builders import attach_ground_truth_flow, load_split, load_trained, select_device
from dff.engine.evaluate import evaluate_stream
from dff.inference.policies import FixedPolicy
from experiments.policies import SIGNALS, AdaptivePolicy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("--key-interval", type=int, default=5)
    ap.add_argument("--signal", default="flow", choices=SIGNALS)
    ap.add_argument("--thresholds", default="0.25,0.5,1,2")
    ap.add_argument("--match", action="store_true", help="bisect the threshold to the fixed key count")
    ap.add_argument("--steps", type=int, default=10, help="bisection steps with --match")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--add-to-eval", nargs=2, metavar=("EVAL_JSON", "OUT"),
                    help="write OUT: a `dff eval --json` file with the first adaptive run added as stream_adaptive "
                         "(what scripts/results_table.py reads for its adaptive metric)")
    args, overrides = ap.parse_known_args()
    cfg = load_config(args.config, overrides)
    dev = select_device("auto")
    model, ckpt = load_trained(cfg, args.checkpoint, dev)
    store, n, k = load_split(cfg, "val"), int(ckpt["num_classes"]), args.key_interval
    attach_ground_truth_flow(model, store)  # model.flow=oracle: the synthetic set's true flow
    rows = []

    def run(name: str, thr: float | None) -> dict:
        policy = FixedPolicy(k) if thr is None else AdaptivePolicy(k, thr, signal=args.signal)
        res = evaluate_stream(model, store, policy, n, cfg["data"]["ignore_index"], dev)
        rows.append(row := {"policy": name, "signal": args.signal if thr is not None else None,
                            "threshold": thr, **res})
        print(f"{name:<9} {row['signal'] or '-':<10} threshold {thr if thr is not None else '-':>8}  "
              f"mIoU {res['miou']:.4f}  key-frame rate {res['key_rate']:.4f} "
              f"({res['key_frames']}/{res['frames']})", flush=True)
        return res

    target = run("fixed", None)["key_frames"]
    if not args.match:
        for t in args.thresholds.split(","):
            run("adaptive", float(t))
    else:  # more keys at lower thresholds: bisect on a log scale between bounds that bracket
        lo, hi = 1e-4, 10.0
        for _ in range(args.steps):
            mid = (lo * hi) ** 0.5
            got = run("adaptive", round(mid, 6))["key_frames"]
            if got == target:
                break
            lo, hi = (mid, hi) if got > target else (lo, mid)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.add_to_eval:
        src, out = args.add_to_eval
        with open(src) as f:
            ev = json.load(f)
        ev["stream_adaptive"] = next(r for r in rows if r["policy"] == "adaptive")
        with open(out, "x") as f:  # never over an existing file (the eval results included)
            json.dump(ev, f, indent=2)


if __name__ == "__main__":
    main()
