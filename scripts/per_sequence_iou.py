"""Per-frame IoU of every class on each val sequence: where a model's mIoU is lost.

usage: python scripts/per_sequence_iou.py CHECKPOINT [overrides ...]
The checkpoint's own config (overrides as `dff eval` takes them); the key network on every
labelled val frame, scored per sequence and pooled over all (the pooled row is `dff eval`'s
per-frame mIoU).
"""
import argparse

import torch

from dff.data.store import to_float
from dff.engine.builders import load_split, load_trained, run_config
from dff.engine.metrics import ConfusionMatrix, class_map


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg, ckpt = run_config(None, args.overrides, args.checkpoint)
    model, ckpt = load_trained(cfg, args.checkpoint, torch.device("cpu"), ckpt)
    model.eval()
    n, ignore = int(ckpt["num_classes"]), cfg["data"]["ignore_index"]
    store, pooled = load_split(cfg, "val"), ConfusionMatrix(n, ignore)
    print(f"{'sequence':<20} {'frames':>6}  IoU per class  mIoU")
    for c, clip in enumerate(store.clips):
        seq = ConfusionMatrix(n, ignore)
        for t, label in store.labels[c].items():
            pred = class_map(model.logits(model.key(to_float(store.frames[c][t])[None]))[0], 0)
            seq.update(pred, label)
            pooled.update(pred, label)
        ious = " ".join(f"{v:.3f}" for v in seq.iou().tolist())
        print(f"{clip.name:<20} {len(store.labels[c]):>6}  {ious}  {seq.miou():.4f}")
    print(f"{'pooled':<20} {sum(map(len, store.labels)):>6}  {' '.join(f'{v:.3f}' for v in pooled.iou().tolist())}  "
          f"{pooled.miou():.4f}")


if __name__ == "__main__":
    main()
