"""benchmarks/frame_work_cost.py: CPU per frame of each step around the model, on RGB and on I420 planes."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dff.io.video_writer import VideoWriter

pytestmark = pytest.mark.perf  # a performance study: pytest -m perf

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("decode_opencv_rgb", "decode_pyav_i420", "input_rgb_shrink", "input_from_planes", "overlay_rgb_to_i420",
         "blend_on_planes", "x264_ultrafast")


def video(path: Path, size: tuple[int, int]) -> Path:
    rng = np.random.default_rng(0)
    with VideoWriter(path, 10, size) as w:
        for _ in range(5):
            w.write(rng.integers(0, 256, (*size, 3), np.uint8))
    return path


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "frame_work_cost.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_every_step_is_timed(tmp_path):
    proc = run("--video", video(tmp_path / "v.mp4", (48, 64)), "--short-side", 24, "--reps", 2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert res["size"] == [48, 64] and res["network"] == [24, 32]
    assert all(res[k] >= 0 for k in STEPS)  # milliseconds rounded to 2 places: a tiny frame's may be 0.0
