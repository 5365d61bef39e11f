"""ONNX export of trained checkpoints against PyTorch on this CPU: time per graph (onnxruntime vs
PyTorch, taken in turns) and the labels of `dff infer` on a real video by both backends.

    python benchmarks/onnx_vs_torch.py runs/davis_lite0_flow_temporal/best.pt runs/davis_r18_s16/best.pt \
        --video ../shared/data/videos/driving-960x540.mp4 --size 240x427 --out runs/onnx
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dff.engine.builders import classes_of, load_trained, run_config
from dff.engine.export import export_checkpoint
from dff.engine.timing import time_in_turns
from dff.inference.onnx_model import OnnxModel
from dff.inference.options import InferOptions
from dff.inference.video import infer_video


def labels_of(folder: Path) -> np.ndarray:
    return np.stack([np.array(Image.open(p)) for p in sorted(folder.glob("*.png"))])


def check(checkpoint: str, video: str, size: tuple[int, int], out: Path, reps: int) -> dict:
    cfg, ckpt = run_config(None, [], checkpoint)
    model, ckpt = load_trained(cfg, checkpoint, torch.device("cpu"), ckpt)
    folder = out / Path(checkpoint).parent.name
    export_checkpoint(model, cfg, checkpoint, classes_of(cfg, model), folder, size, overwrite=True)
    onnx = OnnxModel(folder)
    key, frame = torch.rand(1, 3, *size), torch.rand(1, 3, *size)
    with torch.no_grad():
        state, graph_state = model.key(key), onnx.key(key)
        ms = time_in_turns({
            "torch key": lambda: model.logits(model.key(key)),
            "onnxruntime key": lambda: onnx.key(key),
            "torch propagate": lambda: model.logits(model.propagate(state, frame)),
            "onnxruntime propagate": lambda: onnx.propagate(graph_state, frame)}, reps)
    res = {"checkpoint": checkpoint, "size": list(size), "threads": torch.get_num_threads(),
           "ms": {k: round(v * 1000, 2) for k, v in ms.items()}}
    for backend, onnx_dir in (("torch", None), ("onnxruntime", str(folder))):
        opts = InferOptions(overwrite=True, device="cpu", mode="labels", progress=False, onnx=onnx_dir)
        run = infer_video(cfg, checkpoint, video, str(out / f"{folder.name}_{backend}"), opts, ckpt=ckpt)
        res[f"{backend} infer frames/s"] = round(run["fps_processed"], 2)
    a, b = labels_of(out / f"{folder.name}_torch"), labels_of(out / f"{folder.name}_onnxruntime")
    res["frames"], res["label agreement"] = len(a), float((a == b).mean())
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--video", required=True)
    ap.add_argument("--size", default="240x427")
    ap.add_argument("--out", default="runs/onnx")
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    results = [check(c, args.video, size, Path(args.out), args.reps) for c in args.checkpoints]
    for r in results:
        print(json.dumps(r))
    (Path(args.out) / "onnx_vs_torch.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
