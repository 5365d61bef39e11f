"""One prepared GPU check, printed as one table; each step a `dff` command.

    bash scripts/gpu_check.sh            # on a CUDA machine, under 8 minutes
    bash scripts/gpu_check.sh --smoke    # the same steps on the CPU at tiny sizes (the tests run this)

Steps: CUDA training steps in fp32, bf16 and fp16 autocast, channels_last and torch.compile
(inductor) on a synthetic set; `dff bench` of ResNet-101 s8 at 1024x2048 (per-frame vs DFF k=5)
and of a torchvision (DeepLabV3-ResNet50) and a SegFormer-B0 adapter (random weights: costs only);
`dff infer` of a real video (../shared/data/videos when present, else a synthetic one).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

SEGFORMER = """
import sys
from transformers import SegformerConfig, SegformerForSemanticSegmentation
config = SegformerConfig(num_labels=19) if sys.argv[2] == "b0" else SegformerConfig(
    num_labels=4, hidden_sizes=[8, 16, 24, 32], decoder_hidden_size=16, num_attention_heads=[1, 1, 1, 1], depths=[1, 1, 1, 1])
SegformerForSemanticSegmentation(config).save_pretrained(sys.argv[1])
"""


def run(cmd: list[str], timeout: int) -> tuple[bool, str, float]:
    """(ok, the last line of output, seconds) of a command."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout} s", time.perf_counter() - t0
    lines = (p.stdout.strip() or p.stderr.strip()).splitlines() if p.returncode == 0 else p.stderr.strip().splitlines()
    return p.returncode == 0, (lines[-1] if lines else ""), time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: checks the script, measures nothing")
    ap.add_argument("--out", default="runs/gpu_check")
    ap.add_argument("--video", default="../shared/data/videos/driving-960x540.mp4")
    args = ap.parse_args()
    out, smoke = Path(args.out), args.smoke
    out.mkdir(parents=True, exist_ok=True)
    dev = "cpu" if smoke else "cuda"
    dff = [sys.executable, "-m", "dff"]
    rows: list[tuple[str, str, str, bool]] = []

    def step(name: str, setting: str, cmd: list[str], timeout: int, result=None) -> bool:
        ok, last, seconds = run(cmd, timeout)
        value = result() if ok and result else last
        rows.append((name, setting, f"{value} ({seconds:.0f} s)" if ok else f"FAILED: {last}", ok))
        print(f"{name} {setting}: {rows[-1][2]}", flush=True)
        return ok

    data = out / "data"
    size = (32, 48) if smoke else (256, 512)
    if not (data / "synthetic.json").is_file():
        subprocess.run([*dff, "make-synthetic", "--out", str(data), "--train", "2", "--val", "1", "--frames", "6",
                        "--height", str(size[0]), "--width", str(size[1]), "--overwrite"], check=True)
    base = ["data.dataset=synthetic", f"data.root={data}", "data.split_mode=sequences", f"data.short_side={size[0]}",
            f"data.crop_size=[{size[0]}, {size[0]}]", "train.val_every=0", "train.log_every=1",
            f"train.iters={2 if smoke else 30}", f"train.batch_size={2 if smoke else 8}"]
    if smoke:
        base += ["model.feat_channels=16", "model.flow_width=0.25"]
    compile_ = "train.compile=aot_eager" if smoke else "train.compile=true"  # inductor: C++ builds on a CPU
    variants = [("fp32", []), ("bf16 autocast", ["train.amp=bf16"]), ("fp16 autocast", ["train.amp=fp16"]),
                ("channels_last", ["train.channels_last=true"]), ("torch.compile", [compile_])]
    checkpoint = None
    for name, extra in variants:
        work = out / f"train_{name.split()[0]}"
        last = lambda w=work: f"{json.loads((w / 'metrics.jsonl').read_text().splitlines()[-1])['it_per_s']} it/s"  # noqa: E731
        if step("train", name, [*dff, "train", "dff/configs/demo.yaml", "--work-dir", str(work), "--overwrite",
                                "--device", dev, *base, *extra], 120 if smoke else 150, last) and name == "fp32":
            checkpoint = work / "last.pt"

    def bench(tag: str, cmd: list[str]) -> None:
        js = out / f"bench_{tag}.json"
        def speed() -> str:
            r = json.loads(js.read_text())
            k5 = next(row for row in r["dff"] if row["key_interval"] == 5)
            return f"per-frame {r['per_frame_fps']:.1f} fps, DFF k=5 {k5['fps']:.1f} fps ({k5['speedup']:.2f}x)"
        step("bench", tag, [*cmd, "--device", dev, "--key-intervals", "1,5", "--reps", "2" if smoke else "5",
                            "--json", str(js), "--overwrite"], 120 if smoke else 120, speed)

    big = "64x128" if smoke else "1024x2048"
    bench(f"ResNet-{18 if smoke else 101} s8 {big}", [*dff, "bench", "configs/davis/dff_r50_s8_bench.yaml", "--size", big,
                                   "model.backbone=" + ("resnet18" if smoke else "resnet101")])
    mid = "64x128" if smoke else "512x1024"
    bench(f"DeepLabV3-ResNet50 {mid}", [*dff, "bench", "configs/pretrained/deeplabv3_resnet50.yaml", "--size", mid,
                                        "model.pretrained=null"])
    seg = out / "segformer"
    subprocess.run([sys.executable, "-c", SEGFORMER, str(seg), "tiny" if smoke else "b0"], check=True)
    bench(f"SegFormer {mid}", [*dff, "bench", "configs/pretrained/segformer_b0_cityscapes.yaml", "--size", mid,
                               f"model.key_network=hf:{seg}"])

    video = Path(args.video)
    if smoke or not video.is_file():  # a synthetic clip as the video
        video = next((data / "val").iterdir()) / "frames"
    if checkpoint is not None:
        step("infer", f"{video.name} on {dev}", [*dff, "infer", "--checkpoint", str(checkpoint), "--device", dev,
                                                  "--input", str(video), "--output", str(out / "infer.mp4"),
                                                  "--overwrite"], 120 if smoke else 180)
    print("\n| step | setting | result |\n| --- | --- | --- |")
    for name, setting, result, _ in rows:
        print(f"| {name} | {setting} | {result} |")
    (out / "gpu_check.json").write_text(json.dumps([dict(zip(("step", "setting", "result", "ok"), r)) for r in rows],
                                                   indent=2) + "\n")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
