"""benchmarks/infer_pipeline.py: model-only and `dff infer` in turns, the ratio of their medians."""
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from dff.data.video import VideoReader
from dff.io.video_writer import VideoWriter

pytestmark = pytest.mark.perf  # a performance study: pytest -m perf

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "infer_pipeline.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def test_rounds_in_turns_ratios_and_outputs(tiny_run, synthetic_root, tmp_path):
    frames = sorted((synthetic_root / "val").glob("*/frames/*.png"))[:7]
    video = tmp_path / "in.mp4"
    with VideoWriter(video, 10, (50, 70)) as w:  # odd network size: 50x70 frames at short side 48
        for f in frames:
            w.write(cv2.resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), (70, 50)))
    out = tmp_path / "pipe"
    proc = run(tiny_run / "best.pt", "--video", video, "--out", out, "--rounds", 3, "--repeat", 2, "--unpinned", "--per-thread")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    mo, e2e = res["rounds_model_only_fps"], res["rounds_h264_fps"]
    assert len(mo) == len(e2e) == 3 and min(mo + e2e) > 0
    assert res["model_only_fps"] == round(statistics.median(mo), 2)
    assert abs(res["ratio_h264"] - statistics.median(e2e) / statistics.median(mo)) < 2e-3
    assert res["ratio_h264_vs_fastest_model_only"] <= res["ratio_h264"] + 1e-3
    unpinned = res["rounds_h264_unpinned_fps"]
    assert len(unpinned) == 3 and min(unpinned) > 0
    assert abs(res["pinned_over_unpinned"] - statistics.median(e2e) / statistics.median(unpinned)) < 2e-3
    assert res["malloc"] == "tuned" and res["h264_page_faults_per_frame"] >= 0 and res["h264_kernel_ms_per_frame"] >= 0
    pinned, free = res["per_thread_h264"], res["per_thread_h264_unpinned"]
    assert pinned["wall_ms_per_frame"] > 0 and free["wall_ms_per_frame"] > 0
    # threads that end between two 50 ms samples go uncounted: 7 tiny frames are over in less
    assert pinned["threads"]["MainThread"][0] > 0 and free["threads"]["MainThread"][0] > 0
    assert all(cpu >= 0 and wait >= 0 for cpu, wait in [*pinned["threads"].values(), *free["threads"].values()])
    for name in ("h264", "h264_unpinned", "h264_veryfast", "mp4v"):
        reader = VideoReader(out / f"e2e_{name}.mp4")
        assert sum(1 for _ in reader) == 7 and reader.size == (50, 70)
    assert res["long_frames"] == 14 and res["rss_growth_mb"] >= 0
    assert json.loads((out / "pipeline.jsonl").read_text().splitlines()[-1]) == res


def test_rounds_must_be_positive(tmp_path):
    proc = run("none.pt", "--video", tmp_path / "v.mp4", "--rounds", 0)
    assert proc.returncode == 2 and "--rounds must be at least 1" in proc.stderr
