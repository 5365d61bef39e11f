"""Forward + backward of every dilated depthwise conv of a backbone: oneDNN's gradients (nn.Conv2d)
against dff's (DilatedDepthwiseConv2d, dff/ops/depthwise.py), on one CPU thread, in turns.

    python benchmarks/depthwise_speed.py --backbone efficientnet_lite0 --output-stride 16 --size 224
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn

from dff.models.backbones import BACKBONES, build_backbone
from dff.ops import DilatedDepthwiseConv2d


def fwd_bwd_ms(conv: nn.Module, x: torch.Tensor, plain: bool, reps: int) -> float:
    """Mean ms of conv(x) and its backward (input and weight gradients); plain: nn.Conv2d's path."""
    forward = nn.Conv2d.forward if plain else type(conv).forward
    x = x.detach().requires_grad_()
    forward(conv, x).sum().backward()  # warm-up
    t = time.perf_counter()
    for _ in range(reps):
        forward(conv, x).sum().backward()
    return (time.perf_counter() - t) / reps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="efficientnet_lite0", choices=BACKBONES)
    ap.add_argument("--output-stride", type=int, default=16)
    ap.add_argument("--size", type=int, default=224, help="square input side (default 224, the training crop)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    net = build_backbone(args.backbone, args.output_stride).to(memory_format=torch.channels_last)
    convs = [m for m in net.modules() if isinstance(m, DilatedDepthwiseConv2d)]
    if not convs:
        raise SystemExit(f"{args.backbone} at output stride {args.output_stride} has no dilated depthwise conv")
    inputs = {}
    hooks = [m.register_forward_hook(lambda m, i, o: inputs.__setitem__(m, i[0].detach())) for m in convs]
    with torch.no_grad():  # each layer's input, for timing it alone
        net.eval()(torch.randn(args.batch, 3, args.size, args.size).to(memory_format=torch.channels_last))
    for h in hooks:
        h.remove()
    names = {m: n for n, m in net.named_modules()}
    total = [0.0, 0.0]
    print(f"{'layer':<26} {'input':<20} {'k':>2} {'d':>2} {'oneDNN ms':>10} {'dff ms':>8}")
    for conv, x in inputs.items():
        a, b = fwd_bwd_ms(conv, x, True, args.reps), fwd_bwd_ms(conv, x, False, args.reps)
        total[0] += a
        total[1] += b
        print(f"{names[conv]:<26} {str(tuple(x.shape)):<20} {conv.kernel_size[0]:>2} {conv.dilation[0]:>2} "
              f"{a:>10.1f} {b:>8.1f}")
    print(f"{'all':<26} {'':<20} {'':>2} {'':>2} {total[0]:>10.1f} {total[1]:>8.1f}  ({total[0] / total[1]:.1f}x)")


if __name__ == "__main__":
    main()
