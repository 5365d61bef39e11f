"""Motion the flow networks see on a dataset's val clips: learned flow next to DIS.

usage: python scripts/flow_magnitude.py DATA_CONFIG CHECKPOINT [CHECKPOINT ...] [--distances 1,4]
Each checkpoint's flow network (built from the config saved in it) and OpenCV DIS estimate the
flow from every val frame t to t - d at the stored frame size; printed per distance d: the mean
flow magnitude in pixels of each, and the mean end-point difference of each learned flow from DIS.
"""
import argparse

import torch

from dff.config import load_config
from dff.data.frames import to_float
from dff.engine.builders import load_split, load_trained
from dff.engine.checkpoint import load_checkpoint
from dff.models.flow import DISFlow


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--distances", default="1,4")
    args = ap.parse_args()
    store = load_split(load_config(args.config), "val")
    nets = {"dis": DISFlow(input_scale=1.0)}
    for path in args.checkpoints:
        ckpt = load_checkpoint(path)
        nets[path] = load_trained(ckpt["config"], path, torch.device("cpu"), ckpt)[0].flow_net.eval()
    for d in (int(v) for v in args.distances.split(",")):
        mag, diff, pairs = dict.fromkeys(nets, 0.0), dict.fromkeys(nets, 0.0), 0
        for c, clip in enumerate(store.clips):
            for t in range(clip.start + d, clip.end):
                cur, key = (to_float(store.frames[c][i])[None] for i in (t, t - d))
                flows = {n: f(cur, key, tuple(cur.shape[-2:]))[0] for n, f in nets.items()}
                for n, f in flows.items():
                    mag[n] += f.norm(dim=1).mean().item()
                    diff[n] += (f - flows["dis"]).norm(dim=1).mean().item()
                pairs += 1
        print(f"d={d} ({pairs} pairs, frames {tuple(cur.shape[-2:])}):")
        for n in nets:
            print(f"  {n:<40} mean |flow| {mag[n] / pairs:6.2f} px   mean |flow - DIS| {diff[n] / pairs:6.2f} px")


if __name__ == "__main__":
    main()
