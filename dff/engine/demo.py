"""`dff demo`: synthetic video -> train -> eval -> segmentation video, on the embedded config."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..config import load_config
from ..io.outputs import mark
from ..data.synthetic import write_synthetic
from ..inference.options import InferOptions
from ..inference.video import infer_video
from .builders import load_split, load_trained
from .evaluate import evaluate, format_table, write_json
from .train import train

DEMO_OUTPUTS = ("config.yaml", "best.pt", "last.pt", "eval.json", "segmentation.mp4")


def demo_config_path() -> Path:
    """The embedded demo config shipped inside the package."""
    return Path(str(resources.files("dff") / "configs" / "demo.yaml"))


def run_demo(out: str | Path = "runs/demo", iters: int | None = None, overwrite: bool = False,
             data_kwargs: dict | None = None, progress: bool = True) -> dict:
    """Generate data, train, evaluate and render; returns the paths written under `out`."""
    out = Path(out)
    existing = [name for name in DEMO_OUTPUTS if (out / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out}: holds outputs of an earlier demo ({', '.join(existing)}); "
                              "pass --overwrite or choose another --out")
    data_kwargs = {"num_sequences": {"train": 8, "val": 2}, "num_frames": 30, "size": (96, 128),
                   "num_classes": 4, "seed": 0, **(data_kwargs or {})}
    data_root = write_synthetic(out / "data", **data_kwargs)
    mark(out)  # the demo writes the whole folder, its data included: the run may train there
    overrides = [f"data.root={data_root}"] + ([f"train.iters={iters}"] if iters else [])
    cfg = load_config(demo_config_path(), overrides)
    if overwrite:
        (out / "metrics.jsonl").unlink(missing_ok=True)
    result = train(cfg, out, progress=progress)
    model, ckpt = load_trained(cfg, out / "best.pt", "cpu")
    res = evaluate(model, load_split(cfg, "val"), cfg["model"]["key_interval"],
                   int(ckpt["num_classes"]), device="cpu")
    write_json(res, out / "eval.json")
    val_seq = sorted((data_root / "val").iterdir())[0]
    video = infer_video(cfg, out / "best.pt", val_seq / "frames", out / "segmentation.mp4",
                        InferOptions(overwrite=overwrite, device="cpu", progress=progress))
    print(format_table(res))
    print(f"\ndemo outputs in {out}:")
    for name in ("config.yaml", "best.pt", "eval.json", "segmentation.mp4"):
        print(f"  {out / name}")
    return {"out": str(out), "train": result, "eval": res, "infer": video}
