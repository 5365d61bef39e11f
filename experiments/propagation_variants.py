"""What limits a key 4 frames back: the same trained model propagated in several ways.

usage: python -m experiments.propagation_variants CHECKPOINT [--key-interval K] [overrides ...]
(the checkpoint's own config, overrides as `dff eval` takes them; experiments/notes/training_recipes.md, "Only the
backbone fixed in the propagation stage"). For every val key s and frames s+1..s+K-1 (K = 5), mIoU
by key distance and the share of per-frame at d = K-1 for:
  direct     the learned flow from each frame to the key, one warp (DFF);
  chained    the learned flow frame to frame, the features warped at every step;
  composed   the frame-to-frame flows composed into one flow to the key, the key's features warped
             once (no repeated bilinear resampling), times the scale fields composed the same way;
  dis, zero  DIS at full size (no scale field), chained; no motion (the key's features);
  chained2x, dis2x  chained on a grid twice as fine (features upsampled, pooled back for the head);
  learned+dis  the two chained warps' features averaged.
Then d = K-1 per sequence for chained, dis and zero.
"""
import argparse

import torch
import torch.nn.functional as F

from dff.data.frames import to_float
from dff.engine.builders import load_split, load_trained, run_config
from dff.engine.metrics import ConfusionMatrix, class_map
from dff.models.flow import build_flow_net
from dff.models.segmenter import State
from dff.ops import flow_warp

VARIANTS = ("direct", "chained", "composed", "dis", "zero", "chained2x", "dis2x", "learned+dis")
K = 5


@torch.no_grad()
def variants(model, store, num_classes: int, ignore_index: int = 255, k: int = K):
    """({variant: mIoU at d = 0..k-1}, [(sequence, {chained/dis/zero: mIoU at d = k-1})]) over every
    key position of the store's clips."""
    learned, dis = model.flow_net, build_flow_net("dis", input_scale=1.0)
    scores = {v: [ConfusionMatrix(num_classes, ignore_index) for _ in range(k)] for v in VARIANTS}
    per_seq = []
    for c, clip in enumerate(store.clips):
        seq = {v: ConfusionMatrix(num_classes, ignore_index) for v in ("chained", "dis", "zero")}
        frame = lambda i: to_float(store.frames[c][i])[None]  # noqa: E731
        for s in range(clip.start, clip.end):
            key = model.key(frame(s))
            grid = key.features.shape[-2:]
            fine = F.interpolate(key.features, scale_factor=2, mode="bilinear", align_corners=False)
            if s in store.labels[c]:
                pred = class_map(model.logits(key)[0], 0)
                for v in VARIANTS:
                    scores[v][0].update(pred, store.labels[c][s])
            held = {"chained": key.features, "dis": key.features, "chained2x": fine, "dis2x": fine}
            to_key, scale_to_key, prev = None, None, key.frame
            for t in range(s + 1, min(s + k, clip.end)):
                cur, out = frame(t), {"zero": key.features}
                out["direct"] = model.warp(key.features, *learned(cur, key.frame, grid))
                flow, scale = learned(cur, prev, grid)  # one step, for chained and composed
                held["chained"] = out["chained"] = model.warp(held["chained"], flow, scale)
                for name, net, size in (("dis", dis, grid), ("chained2x", learned, fine.shape[-2:]),
                                        ("dis2x", dis, fine.shape[-2:])):
                    held[name] = model.warp(held[name], *net(cur, prev, size))
                    out[name] = held[name] if size == grid else F.avg_pool2d(held[name], 2)
                # composed: x + f(x), then the held flow read there
                to_key = flow if to_key is None else flow + flow_warp(to_key, flow, padding_mode="border")
                if scale is not None:
                    scale_to_key = scale if scale_to_key is None else \
                        scale * flow_warp(scale_to_key, flow, padding_mode="border")
                out["composed"] = model.warp(key.features, to_key, scale_to_key)
                out["learned+dis"] = (out["chained"] + out["dis"]) / 2
                prev = cur
                if t in store.labels[c]:
                    for v in VARIANTS:
                        pred = class_map(model.logits(State(cur, out[v], flow))[0], 0)
                        scores[v][t - s].update(pred, store.labels[c][t])
                        if v in seq and t - s == k - 1:
                            seq[v].update(pred, store.labels[c][t])
        per_seq.append((clip.name, {v: m.miou() for v, m in seq.items()}))
    return {v: [m.miou() for m in ms] for v, ms in scores.items()}, per_seq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--key-interval", type=int, default=K, help="k: distances 0..k-1 (default 5)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    k = args.key_interval
    cfg, ckpt = run_config(None, args.overrides, args.checkpoint)
    model, ckpt = load_trained(cfg, args.checkpoint, torch.device("cpu"), ckpt)
    by_variant, per_seq = variants(model, load_split(cfg, "val"), int(ckpt["num_classes"]),
                                   cfg["data"]["ignore_index"], k)
    per_frame = by_variant["direct"][0]
    print(f"{'variant':<12} " + " ".join(f"{'d=' + str(d):>7}" for d in range(k)) + f"  d={k - 1} share  mean share")
    for v, by in by_variant.items():
        shares = f"  {by[-1] / per_frame:9.3f}  {sum(by) / k / per_frame:10.3f}"
        print(f"{v:<12} " + " ".join(f"{x:7.4f}" for x in by) + shares)
    print(f"\nd = {k - 1} per sequence{'':<4}{'chained':>8}{'dis':>8}{'zero':>8}")
    for name, m in per_seq:
        print(f"{name:<22}{m['chained']:8.4f}{m['dis']:8.4f}{m['zero']:8.4f}")


if __name__ == "__main__":
    main()
