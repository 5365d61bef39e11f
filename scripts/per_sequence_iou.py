"""Per-frame IoU of every class on each val sequence, and how near the errors lie to boundaries.

usage: python scripts/per_sequence_iou.py CHECKPOINT [overrides ...]
The checkpoint's own config (overrides as `dff eval` takes them); the key network on every
labelled val frame, scored per sequence and pooled over all (the pooled row is `dff eval`'s
per-frame mIoU); then the share of the wrong pixels within r px of a true boundary (a pixel whose
3x3 neighbourhood holds another class; ignored pixels are neither errors nor boundaries).
"""
import argparse

import cv2
import numpy as np
import torch

from dff.data.frames import to_float
from dff.engine.builders import load_split, load_trained, run_config
from dff.engine.metrics import ConfusionMatrix, class_map

RADII = (1, 2, 4, 8, 16)


def errors_near_boundaries(pred: np.ndarray, label: np.ndarray, ignore: int, radii=RADII) -> tuple[list[int], int]:
    """(wrong pixels within each radius of a true boundary, all wrong pixels) of one frame."""
    valid = label != ignore
    err = (pred != label) & valid
    kernel = np.ones((3, 3), np.uint8)
    grown = cv2.dilate(np.where(valid, label, 0).astype(np.uint8), kernel)
    shrunk = cv2.erode(np.where(valid, label, 255).astype(np.uint8), kernel)
    edge = (grown != shrunk) & valid
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    return [int((err & (dist <= r)).sum()) for r in radii], int(err.sum())


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
    near, wrong = np.zeros(len(RADII), np.int64), 0
    print(f"{'sequence':<20} {'frames':>6}  IoU per class  mIoU")
    for c, clip in enumerate(store.clips):
        seq = ConfusionMatrix(n, ignore)
        for t, label in store.labels[c].items():
            pred = class_map(model.logits(model.key(to_float(store.frames[c][t])[None]))[0], 0)
            seq.update(pred, label)
            pooled.update(pred, label)
            counts, errors = errors_near_boundaries(pred.numpy(), label.numpy(), ignore)
            near, wrong = near + counts, wrong + errors
        ious = " ".join(f"{v:.3f}" for v in seq.iou().tolist())
        print(f"{clip.name:<20} {len(store.labels[c]):>6}  {ious}  {seq.miou():.4f}")
    print(f"{'pooled':<20} {sum(map(len, store.labels)):>6}  {' '.join(f'{v:.3f}' for v in pooled.iou().tolist())}  "
          f"{pooled.miou():.4f}")
    print(f"{wrong} wrong pixels, the share within r px of a true boundary: "
          + "  ".join(f"r={r}: {k / max(1, wrong):.3f}" for r, k in zip(RADII, near)))


if __name__ == "__main__":
    main()
