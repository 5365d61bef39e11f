"""benchmarks/key_layout.py: the key network channels-last against channels-first, in turns."""
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dff.io.video_writer import VideoWriter

pytestmark = pytest.mark.perf  # a performance study: pytest -m perf

ROOT = Path(__file__).resolve().parents[2]


def test_both_layouts_timed_in_turns_with_the_same_outputs(tiny_run, tmp_path):
    video = tmp_path / "in.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(video, 10, (40, 56)) as w:
        for _ in range(6):
            w.write(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for source, force, last in (("torchvision:lraspp_mobilenet_v3_large", [], True), (tiny_run / "best.pt", [], False),
                                (tiny_run / "best.pt", ["--force"], True)):
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "key_layout.py"), str(source), "short_side=32",
                               "key_interval=3", "--video", str(video), "--out", str(tmp_path / "out.mp4"),
                               "--rounds", "2", *force], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        assert res["stem_channels_last"] == [False, last] and res["frames"] == 6
        assert set(res["rounds"]) == {f"{m}_{k}" for m in ("key_only", "model_only", "infer") for k in ("first", "last")}
        assert all(len(v) == 2 and min(v) > 0 for v in res["rounds"].values())
        med = {k: statistics.median(v) for k, v in res["rounds"].items()}
        for m in ("key_only", "model_only", "infer"):
            assert abs(res[f"{m}_last_over_first"] - med[f"{m}_last"] / med[f"{m}_first"]) < 2e-3
        assert res["max_logit_difference"] <= 1e-5
