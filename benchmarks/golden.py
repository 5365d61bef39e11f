"""Golden run: every objective trained a few steps on synthetic data, evaluated, segmented and
exported, reduced to one digest (losses, weights, eval JSONs, label PNGs). Run it on two commits
and compare: a restructuring that keeps behaviour gives the same digest, bit for bit.

    python benchmarks/golden.py OUT              # writes OUT/digest.json
    python benchmarks/golden.py OUT --against A  # and compares it with an earlier digest.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

TINY = ["data.dataset=synthetic", "data.split_mode=sequences", "data.short_side=48", "data.crop_size=[48, 48]",
        "model.feat_channels=16", "model.flow_width=0.25", "model.key_interval=3", "train.iters=4",
        "train.batch_size=2", "train.val_every=2", "train.save_every=2", "train.val_frames=4", "train.log_every=1",
        "train.warmup_iters=1", "train.keep_last=0", "--device", "cpu"]
ACCEL = ["model.arch=accel", "model.update_backbone=mobilenet_v3_small", "model.update_channels=16",
         "model.update_scale=0.5"]
# wall-clock entries and paths: they differ between any two runs (matched whole: "terms" must stay)
VARYING = {"it_per_s", "elapsed_s", "checkpoint"}


def _dff(*argv: str) -> None:
    from dff.cli import main
    rc = main([str(a) for a in argv])
    if rc != 0:
        raise SystemExit(f"golden: dff {' '.join(map(str, argv))} exited {rc}")


def _untimed(obj):
    """A JSON value without its wall-clock entries and paths (they differ between any two runs)."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k not in VARYING}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def _weights(path: Path) -> str:
    state = torch.load(path, weights_only=True)["model"]
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _files(folder: Path, pattern: str) -> str:
    import cv2
    h = hashlib.sha256()
    for f in sorted(folder.rglob(pattern)):
        h.update(f.relative_to(folder).as_posix().encode())
        h.update(np.ascontiguousarray(cv2.imread(str(f), cv2.IMREAD_UNCHANGED)).tobytes())
    return h.hexdigest()


def _run(name: str, out: Path, data: Path, *over: str) -> dict:
    run = out / name
    _dff("train", out / "base.yaml", "--work-dir", run, f"data.root={data}", *over)
    losses = [_untimed(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]
    res = {"losses": losses, "weights": _weights(run / "last.pt")}
    ev = out / f"{name}.eval.json"
    _dff("eval", "--checkpoint", run / "last.pt", "--json", ev, "--device", "cpu")
    res["eval"] = _untimed(json.loads(ev.read_text()))
    return res


def golden(out: Path) -> dict:
    from dff.data.synthetic import write_synthetic
    torch.set_num_threads(1)
    data = write_synthetic(out / "data", {"train": 2, "val": 1}, num_frames=8, size=(48, 64), num_classes=3, seed=1)
    chairs = write_synthetic(out / "chairs", {"train": 2, "val": 1}, num_frames=3, size=(48, 64), num_classes=3,
                             seed=2, motion="chairs")
    (out / "base.yaml").write_text("data:\n  dataset: synthetic\n")
    d = {"dff": _run("dff", out, data, *TINY),
         "accel_per_frame": _run("accel_per_frame", out, data, *TINY, *ACCEL, "train.objective=per_frame")}
    d["accel"] = _run("accel", out, data, *TINY, *ACCEL, f"model.load_from={out / 'accel_per_frame' / 'last.pt'}")
    d["flow"] = _run("flow", out, chairs, *TINY, "train.objective=flow")
    footage = out / "footage"
    for seq in sorted((data / "train").iterdir()):
        shutil.copytree(seq / "frames", footage / seq.name)
    d["distill"] = _run("distill", out, footage, *TINY, "data.dataset=video", "data.num_classes=3",
                        "data.split_mode=temporal", "train.objective=distill",
                        f"model.load_from={out / 'dff' / 'last.pt'}")
    frames = next((data / "val").iterdir()) / "frames"
    for name in ("dff", "accel"):
        labels = out / f"{name}.labels"
        _dff("infer", "--checkpoint", out / name / "last.pt", "--input", frames, "--output", labels,
             "--mode", "labels", "--device", "cpu", "--threads", "1")
        d[name]["labels"] = _files(labels, "*.png")
    _dff("export", "--checkpoint", out / "dff" / "last.pt", "--out", out / "onnx", "--size", "48x64")
    d["export"] = _untimed(json.loads((out / "onnx" / "export.json").read_text()))
    _dff("infer", "--backend", "onnxruntime", "--onnx", out / "onnx", "--input", frames, "--output",
         out / "onnx.labels", "--mode", "labels", "--threads", "1")
    d["export"]["labels"] = _files(out / "onnx.labels", "*.png")
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a new folder")
    ap.add_argument("--against", type=Path, help="an earlier digest.json to compare with")
    args = ap.parse_args()
    args.out.mkdir(parents=True)
    digest = golden(args.out)
    (args.out / "digest.json").write_text(json.dumps(digest, indent=1, sort_keys=True) + "\n")
    if args.against is None:
        return 0
    old = json.loads(args.against.read_text())
    differ = [k for k in sorted(set(old) | set(digest)) if old.get(k) != digest.get(k)]
    print("golden: identical" if not differ else f"golden: differ in {', '.join(differ)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
