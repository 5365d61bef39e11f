"""The key network channels-last (as dff runs it on the CPU) against channels-first, in turns.

    python benchmarks/key_layout.py runs/davis_lite0/best.pt flow=dis --video ../shared/data/videos/driving-960x540.mp4
    python benchmarks/key_layout.py torchvision:deeplabv3_mobilenet_v3_large --video VIDEO --rounds 3

SOURCE: a dff checkpoint, or torchvision:NAME built with random weights (the cost does not
depend on them, and nothing is downloaded); overrides are dff.load's (key=value). Two
VideoSegmenters with the same weights, one as `layout.key_channels_last` leaves it, one with
the key network put back channels-first (--force: the other channels-last even where the rule
leaves it), each timed: the key network alone (runs per second on the first frame), model
only (the frames resized beforehand, streamed through the model; both with all torch threads)
and end to end (`dff infer`'s run_video: overlay, H.264); all six in turns, --rounds times
(each first in turn). Prints every round and one JSON line: whether each key network's first
convolution is channels-last, the medians, channels-last over channels-first for each, and the
largest difference of a random frame's key logits relative to the largest logit.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dff  # noqa: E402
from dff.data.video import VideoReader  # noqa: E402
from dff.inference.options import InferOptions  # noqa: E402
from dff.inference.tuning import tune_malloc  # noqa: E402
from dff.inference.video import run_video  # noqa: E402
from dff.engine.timing import rounds_in_turns  # noqa: E402
from infer_pipeline import model_only_fps  # noqa: E402


def load(source: str, overrides: dict) -> dff.VideoSegmenter:
    if source.startswith("torchvision:"):
        import torchvision
        torch.manual_seed(0)
        source = getattr(torchvision.models.segmentation, source.split(":", 1)[1])(weights=None, weights_backbone=None)
    return dff.load(source, device="cpu", **overrides)


def stem_channels_last(seg: dff.VideoSegmenter) -> bool:
    """Whether the key network's first convolution is stored channels-last (key_channels_last ran)."""
    stem = next(m.weight for m in seg.model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    return stem.is_contiguous(memory_format=torch.channels_last) and not stem.is_contiguous()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source")
    ap.add_argument("overrides", nargs="*", help="dff.load's overrides, key=value (numbers as numbers)")
    ap.add_argument("--video", required=True)
    ap.add_argument("--out", default="runs/key_layout.mp4")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--force", action="store_true",
                    help="the key network channels-last even where key_channels_last leaves it (dense ResNets)")
    args = ap.parse_args()
    overrides = {k: int(v) if v.isdigit() else v for k, v in (o.split("=", 1) for o in args.overrides)}
    tune_malloc()  # as dff infer does
    last, first = load(args.source, overrides), load(args.source, overrides)
    first.model.load_state_dict(last.model.state_dict())
    first.model.backbone.to(memory_format=torch.contiguous_format)  # the key network as before key_channels_last
    if args.force:
        last.model.backbone.to(memory_format=torch.channels_last)
    frames = list(VideoReader(args.video))
    with torch.no_grad():
        probe = torch.rand(1, 3, 64, 96)
        a, b = (s.model.logits(s.model.key(probe)) for s in (first, last))
    x = first._input(frames[0])  # the network's input

    @torch.no_grad()
    def key_only(seg: dff.VideoSegmenter, n: int = 3) -> float:
        seg.model.key(x)
        t0 = time.perf_counter()
        for _ in range(n):
            seg.model.key(x)
        return n / (time.perf_counter() - t0)

    runs = {"key_only_first": lambda: key_only(first), "key_only_last": lambda: key_only(last),
            "model_only_first": lambda: model_only_fps(first, frames), "model_only_last": lambda: model_only_fps(last, frames)}
    for name, seg in (("infer_first", first), ("infer_last", last)):
        runs[name] = lambda seg=seg: run_video(seg, args.video, args.out,
                                               InferOptions(overwrite=True, progress=False))["fps_processed"]
    rounds = rounds_in_turns({name: lambda run=run: round(run(), 2) for name, run in runs.items()}, args.rounds,
                      lambda r, so_far: print(r, {k: v[-1] for k, v in so_far.items()}, flush=True))
    med = {k: statistics.median(v) for k, v in rounds.items()}
    print(json.dumps({"source": args.source, "overrides": overrides, "frames": len(frames),
                      "stem_channels_last": [stem_channels_last(first), stem_channels_last(last)], "rounds": rounds,
                      "median": med,
                      "key_only_last_over_first": round(med["key_only_last"] / med["key_only_first"], 3),
                      "model_only_last_over_first": round(med["model_only_last"] / med["model_only_first"], 3),
                      "infer_last_over_first": round(med["infer_last"] / med["infer_first"], 3),
                      "max_logit_difference": float((a - b).abs().max() / a.abs().max())}))


if __name__ == "__main__":
    main()
