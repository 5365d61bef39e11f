"""scripts/gpu_check.sh --smoke: every step of the prepared GPU check runs (on the CPU, at tiny
sizes), so that a GPU session spends its minutes measuring, not debugging."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_smoke_runs_every_step(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [(r["step"], r["setting"].split()[0]) for r in rows] == [
        ("train", "fp32"), ("train", "bf16"), ("train", "fp16"), ("train", "channels_last"),
        ("train", "torch.compile"), ("bench", "ResNet-18"), ("bench", "DeepLabV3-ResNet50"), ("bench", "SegFormer"),
        ("infer", "frames")]
    assert all(r["ok"] for r in rows) and "| train | fp32 |" in proc.stdout
    assert "frames/s" in rows[-1]["result"] and "it/s" in rows[0]["result"]
