"""A trained model's flow network against the synthetic set's ground-truth flow, on val pairs.

usage: python -m experiments.flow_vs_truth CONFIG CHECKPOINT [--pairs 5:4,10:8,20:16] [--clip 0]
For each (current, key) pair prints the end-point error of the model's flow (and of DIS) to
the ground truth, the mean true motion, and the photometric error of the key warped onto the
current frame by each flow (and by none), at full frame resolution.
"""
import argparse

import torch

from dff.config import load_config
from dff.data.frames import to_float
from dff.engine.builders import attach_ground_truth_flow, load_split, load_trained
from dff.models.flow import DISFlow, OracleFlow
from dff.ops import flow_warp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("checkpoint")
    ap.add_argument("--pairs", default="5:4,10:8,20:16", help="current:key frame indices")
    ap.add_argument("--clip", type=int, default=0, help="val clip index")
    args = ap.parse_args()
    cfg = load_config(args.config)
    model, _ = load_trained(cfg, args.checkpoint, torch.device("cpu"))
    store = load_split(cfg, "val")
    oracle = OracleFlow().eval()
    model.flow_net, learned = oracle, model.flow_net  # attach registers the truth on model.flow_net
    attach_ground_truth_flow(model, store)
    flows = {"learned": learned.eval(), "dis": DISFlow("medium", input_scale=1.0).eval()}
    for pair in args.pairs.split(","):
        t, s = (int(v) for v in pair.split(":"))
        cur, key = (to_float(store.frames[args.clip][i])[None] for i in (t, s))
        size = tuple(cur.shape[-2:])
        with torch.no_grad():
            truth = oracle(cur, key, size)[0]
            out = {n: f(cur, key, size)[0] for n, f in flows.items()}
        warp_err = {n: (flow_warp(key, f) - cur).abs().mean().item() for n, f in {**out, "truth": truth}.items()}
        epe = {n: (f - truth).norm(dim=1).mean().item() for n, f in out.items()}
        print(f"current {t} key {s}: true motion {truth.norm(dim=1).mean():.2f} px; "
              + "; ".join(f"{n} EPE {e:.2f}" for n, e in epe.items())
              + f"; warp error none {(key - cur).abs().mean():.4f} "
              + " ".join(f"{n} {e:.4f}" for n, e in warp_err.items()))


if __name__ == "__main__":
    main()
