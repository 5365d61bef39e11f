"""Data-parallel training under torchrun: 2 CPU processes (gloo) = 1 process with twice the batch."""
import json
import os
import subprocess
import sys

import pytest
import torch

from dff.config import merge, save_config
from dff.engine.checkpoint import load_checkpoint
from dff.engine.train import train

# BatchNorm statistics (per process on CPU: SyncBatchNorm is CUDA-only) and dropout draws differ
# between 2 x b and 1 x 2b samples, so BatchNorm is in eval mode and the head (dropout) fixed;
# random scale makes ignore-padded crops, which the global pixel count normalises exactly.
DDP = {"data": {"scale_range": [1.0, 1.3]},
       "train": {"iters": 3, "batch_size": 2, "val_every": 0, "save_every": 3, "log_every": 1,
                 "freeze_bn": True, "freeze": ["head"]}}


def one_process(cfg, work_dir):
    """A single-process run on one thread (the 2 cores are shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, work_dir, device="cpu", progress=False)
    finally:
        torch.set_num_threads(n)
    return load_checkpoint(work_dir / "last.pt")


def max_diff(a: dict, b: dict) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_two_processes_match_one_with_twice_the_batch(tiny_cfg, tmp_path):
    cfg = merge(tiny_cfg, DDP)
    cfg_file = tmp_path / "ddp.yaml"
    save_config(cfg, cfg_file)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "dff", "train", str(cfg_file), "--device", "cpu", "--work-dir", str(tmp_path / "ddp")]
    # one thread per process whatever the caller's OMP_NUM_THREADS (two each: 2e-5 apart by sum order)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    two = load_checkpoint(tmp_path / "ddp" / "last.pt")
    one = one_process(merge(cfg, {"train": {"batch_size": 4}}), tmp_path / "one")
    assert max_diff(two["model"], one["model"]) < 1e-5
    half = one_process(cfg, tmp_path / "half")  # rank 0's share alone: the tolerance tells them apart
    assert max_diff(two["model"], half["model"]) > 1e-4

    assert two["world_size"] == 2 and len(two["rng"]) == 2
    assert not torch.equal(two["rng"][0]["torch"], two["rng"][1]["torch"])  # distinct dropout draws
    # rank 0 alone logs: one line per iteration, the loss averaged over both processes
    lines = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [line["iter"] for line in lines] == [1, 2, 3]
    assert [line["loss"] for line in lines] == pytest.approx([line["loss"] for line in ref], abs=1e-5)
