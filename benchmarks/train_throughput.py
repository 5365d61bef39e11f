"""Training iterations/s of a config: 1 process vs N gloo processes, channels_last and torch.compile.

Every variant trains the same global batch per step (N processes: batch / N each), without
validation, and is timed from metrics.jsonl after its first `--warmup` iterations (data decoding,
allocator warm-up and compilation excluded). Each runs as its own `dff train` (or torchrun)
process. On a shared machine the figures are noisy: compare them within one invocation.

    python benchmarks/train_throughput.py configs/davis/dff_r18_s16_temporal.yaml --iters 6
    python benchmarks/train_throughput.py configs/davis/dff_lite0_s16_temporal.yaml --set train.objective=per_frame
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name: (processes, extra overrides, intra-op threads per process: None = torch's default, one per
# core; torchrun itself sets 1 per process)
VARIANTS = {
    "1 process": (1, [], None),
    "1 process, 1 thread": (1, [], 1),
    "1 process, channels_last": (1, ["train.channels_last=true"], None),
    "1 process, compile": (1, ["train.compile=true"], None),
    "2 processes (gloo)": (2, [], 1),
    "2 processes (gloo), channels_last": (2, ["train.channels_last=true"], 1),
}


def run_variant(config: str, procs: int, extra: list[str], threads, iters: int, batch: int, work: Path,
                sets: list[str] = ()) -> None:
    """One `dff train` (torchrun when procs > 1) of `iters` iterations into work; sets: the user's overrides."""
    overrides = [*sets, f"train.iters={iters}", "train.val_every=0", f"train.save_every={iters}", "train.keep_last=0",
                 "train.log_every=1", f"train.batch_size={batch // procs}", *extra]
    launch = [sys.executable, "-m", "dff"] if procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}", "-m", "dff"]
    cmd = [*launch, "train", config, "--device", "cpu", "--work-dir", str(work), *overrides]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")


def rate(work: Path, warmup: int) -> float:
    """Iterations/s after the first `warmup` iterations, from metrics.jsonl."""
    lines = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    t = {line["iter"]: line["elapsed_s"] for line in lines if "elapsed_s" in line}
    last = max(t)
    return (last - warmup) / (t[last] - t[warmup])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="configs/davis/dff_r18_s16_temporal.yaml")
    ap.add_argument("--iters", type=int, default=6, help="iterations per variant (default 6)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed first iterations (default 2)")
    ap.add_argument("--batch", type=int, default=8, help="global batch per step (default 8)")
    ap.add_argument("--only", action="append", choices=list(VARIANTS), help="run only these variants")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for every variant, e.g. --set train.objective=per_frame")
    args = ap.parse_args()
    print(f"{args.config}: global batch {args.batch}, {args.iters} iterations, first {args.warmup} untimed")
    print(f"{'variant':<36} {'it/s':>7} {'img/s':>7} {'wall s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or VARIANTS:
            procs, extra, threads = VARIANTS[name]
            work = Path(tmp) / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
            t0 = time.time()
            run_variant(args.config, procs, extra, threads, args.iters, args.batch, work, args.set)
            r = rate(work, args.warmup)
            print(f"{name:<36} {r:>7.3f} {r * args.batch:>7.2f} {time.time() - t0:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
