"""`dff infer` end to end against the model alone, in one run on the same frames.

    python benchmarks/infer_pipeline.py runs/davis_lite0_flow_temporal/best.pt model.flow=dis \
        --video ../shared/data/videos/driving-960x540.mp4 --rounds 5 --repeat 9

model-only: the frames decoded and resized to the network's size beforehand, then streamed
through the model (StreamRunner at k) with all torch threads. end to end: `dff infer` (overlay,
H.264 at the default preset), its frames/s as it reports them. The two run in turns, --rounds
times (each first in turn, so that a drift of the machine's speed falls on all):
on a shared 2-core machine the model alone moves by 20-30% between runs seconds apart, so one
pair says little. Reported: every round's figures, the ratio of the medians (the goal's figure),
the median of the rounds' own ratios, the end-to-end median over the fastest model-only round
(the most pessimistic reading), and the page faults and kernel CPU per frame of the infer calls
(--malloc default: glibc's allocator as it comes, for comparison). --unpinned: a third run in
each round, `dff infer` with the key network's thread left to the scheduler (split_cores off), and
the end-to-end median over its median. --per-thread: one more H.264 run (and one unpinned) with
each thread's CPU and run-queue wait per frame, read from /proc/self/task/*/schedstat every 50 ms
(Linux; threads by their Python name, else their OS one; a thread's last 50 ms go uncounted).
Then one run each of H.264 at veryfast and of mp4v, over the model-only median. RSS: sampled
every 0.2 s during an H.264 infer of the video repeated --repeat times; growth = the peak after the
first 10% of the run minus the RSS at 10%; trend = the mean RSS of the last tenth of the run minus
that of the second.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch

from dff.data.frames import resized_size, shrink
from dff.data.video import VideoReader
from dff.io.video_writer import VideoWriter
from dff.engine.builders import run_config
from dff.engine.timing import rounds_in_turns
from dff.inference import tuning
from dff.inference.options import InferOptions
from dff.inference.tuning import tune_malloc
from dff.inference.video import build_segmenter, infer_video


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def model_only_fps(seg, frames: list[np.ndarray]) -> float:
    h, w = frames[0].shape[:2]
    net_h, net_w = resized_size(h, w, seg.short_side)
    small = [torch.from_numpy(shrink(f, (net_h, net_w))).permute(2, 0, 1)
             .contiguous()[None].float().div_(255) for f in frames]
    seg.reset()
    with torch.no_grad():
        seg.runner.step(small[0])  # warm-up
        t0 = time.perf_counter()
        for x in small:
            seg.runner.step(x)
    return len(small) / (time.perf_counter() - t0)


def while_sampling(run, sample, every: float):
    """run()'s result, sample() called in a thread every `every` s while it runs and once after."""
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            sample()
            time.sleep(every)

    sampler = threading.Thread(target=loop, name="sampler", daemon=True)
    sampler.start()
    try:
        return run()
    finally:
        done.set()
        sampler.join()
        sample()


def per_thread(run, frames: int) -> dict:
    """{thread name: [CPU ms, run-queue wait ms] per frame} over run(), and its wall ms per frame."""
    seen: dict[str, tuple[str, float, float]] = {}

    def snap() -> None:
        names = {t.native_id: t.name for t in threading.enumerate()}
        for task in Path("/proc/self/task").iterdir():
            try:
                cpu, wait, _ = map(int, (task / "schedstat").read_text().split())
                name = names.get(int(task.name)) or seen.get(task.name, ("",))[0] or (task / "comm").read_text().strip()
            except (OSError, ValueError):  # the thread ended between the listing and the read
                continue
            seen[task.name] = (name, cpu / 1e6, wait / 1e6)

    def timed() -> float:
        t0 = time.perf_counter()
        run()
        return time.perf_counter() - t0

    snap()
    start = dict(seen)
    wall = while_sampling(timed, snap, 0.05)
    out: dict[str, list[float]] = {}
    for tid, (name, cpu, wait) in seen.items():
        _, cpu0, wait0 = start.get(tid, (name, 0.0, 0.0))
        acc = out.setdefault(name, [0.0, 0.0])
        acc[0], acc[1] = acc[0] + (cpu - cpu0) / frames, acc[1] + (wait - wait0) / frames
    return {"wall_ms_per_frame": round(1000 * wall / frames, 2),
            "threads": {n: [round(c, 2), round(w, 2)] for n, (c, w) in sorted(out.items(), key=lambda x: -x[1][0])}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--video", required=True)
    ap.add_argument("--out", default="runs/pipeline")
    ap.add_argument("--rounds", type=int, default=5, help="model-only and end-to-end runs in turns, this many each")
    ap.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                    help="glibc's allocator as `dff infer` sets it (tune_malloc), or left at its defaults")
    ap.add_argument("--unpinned", action="store_true",
                    help="also `dff infer` without the key network's own CPU, in turns with the rest")
    ap.add_argument("--per-thread", action="store_true",
                    help="one more H.264 run (and one unpinned) with each thread's CPU per frame (Linux)")
    ap.add_argument("--repeat", type=int, default=9, help="the video this many times for the RSS run (0: none)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.malloc == "tuned":
        tune_malloc()  # as `dff infer` and `dff bench` do
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg, ckpt = run_config(None, args.overrides, args.checkpoint)
    frames = list(VideoReader(args.video))
    seg = build_segmenter(cfg, args.checkpoint, InferOptions(device="cpu"), ckpt=ckpt)
    res = {"checkpoint": args.checkpoint, "overrides": args.overrides, "frames": len(frames),
           "size": list(frames[0].shape[:2]), "key_interval": seg.key_interval, "threads": torch.get_num_threads()}

    def infer(name: str, codec: str, preset: str | None) -> float:
        opts = InferOptions(overwrite=True, device="cpu", codec=codec, preset=preset, progress=False)
        return infer_video(cfg, args.checkpoint, args.video, str(out / f"e2e_{name}.mp4"), opts, ckpt)["fps_processed"]

    def unpinned() -> float:
        split, tuning.split_cores = tuning.split_cores, lambda: None
        try:
            return infer("h264_unpinned", "h264", None)
        finally:
            tuning.split_cores = split

    faults, kernel = [], []

    def h264() -> float:
        before = resource.getrusage(resource.RUSAGE_SELF)
        fps = infer("h264", "h264", None)
        after = resource.getrusage(resource.RUSAGE_SELF)  # the whole call: its read-back check too
        faults.append((after.ru_minflt - before.ru_minflt) / len(frames))
        kernel.append(1000 * (after.ru_stime - before.ru_stime) / len(frames))
        return fps

    rounds = rounds_in_turns({"model_only": lambda: model_only_fps(seg, frames), "h264": h264,
                       **({"h264_unpinned": unpinned} if args.unpinned else {})}, args.rounds)
    mo, e2e = (statistics.median(rounds[n]) for n in ("model_only", "h264"))
    res.update({"rounds_model_only_fps": [round(v, 2) for v in rounds["model_only"]],
                "rounds_h264_fps": [round(v, 2) for v in rounds["h264"]],
                "model_only_fps": round(mo, 2), "infer_h264_fps": round(e2e, 2), "ratio_h264": round(e2e / mo, 3),
                "ratio_h264_rounds_median": round(statistics.median(
                    a / b for a, b in zip(rounds["h264"], rounds["model_only"])), 3),
                "ratio_h264_vs_fastest_model_only": round(e2e / max(rounds["model_only"]), 3),
                "h264_page_faults_per_frame": round(statistics.median(faults)),
                "h264_kernel_ms_per_frame": round(statistics.median(kernel), 2), "malloc": args.malloc,
                "h264_mb": round((out / "e2e_h264.mp4").stat().st_size / 2**20, 2)})
    if args.unpinned:
        res.update({"rounds_h264_unpinned_fps": [round(v, 2) for v in rounds["h264_unpinned"]],
                    "infer_h264_unpinned_fps": round(statistics.median(rounds["h264_unpinned"]), 2),
                    "pinned_over_unpinned": round(e2e / statistics.median(rounds["h264_unpinned"]), 3)})
    if args.per_thread:
        res["per_thread_h264"] = per_thread(lambda: infer("h264", "h264", None), len(frames))
        if args.unpinned:
            res["per_thread_h264_unpinned"] = per_thread(unpinned, len(frames))
    for name, codec, preset in (("h264_veryfast", "h264", "veryfast"), ("mp4v", "mp4v", None)):
        fps = infer(name, codec, preset)
        res[f"infer_{name}_fps"], res[f"ratio_{name}"] = round(fps, 2), round(fps / mo, 3)
        res[f"{name}_mb"] = round((out / f"e2e_{name}.mp4").stat().st_size / 2**20, 2)
    if args.repeat:
        long = out / "long.mp4"
        with VideoWriter(long, 30, frames[0].shape[:2], overwrite=True, codec="h264") as w:
            for _ in range(args.repeat):
                for f in frames:
                    w.write(f)
        samples = []
        opts = InferOptions(overwrite=True, device="cpu", codec="h264", progress=False)
        run = while_sampling(lambda: infer_video(cfg, args.checkpoint, str(long), str(out / "long_seg.mp4"), opts, ckpt),
                             lambda: samples.append((time.perf_counter(), rss_mb())), 0.2)
        t0, t1 = samples[0][0], samples[-1][0]
        base = next(r for t, r in samples if t >= t0 + 0.1 * (t1 - t0))
        peak = max(r for t, r in samples if t >= t0 + 0.1 * (t1 - t0))
        # growth and swing apart: the mean of the last tenth against the mean of the second
        tenth = [[r for t, r in samples if t0 + i * (t1 - t0) / 10 <= t < t0 + (i + 1) * (t1 - t0) / 10] for i in (1, 9)]
        res.update({"long_frames": run["frames_written"], "long_fps": round(run["fps_processed"], 2),
                    "rss_at_10pct_mb": round(base, 1), "rss_peak_after_mb": round(peak, 1),
                    "rss_growth_mb": round(peak - base, 1),
                    # None where the run is too short for a sample in both tenths
                    "rss_trend_mb": round(statistics.fmean(tenth[1]) - statistics.fmean(tenth[0]), 1)
                    if all(tenth) else None})
    print(json.dumps(res))
    with (out / "pipeline.jsonl").open("a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
