"""One process or torchrun's group of them: `torchrun --nproc-per-node N -m dff train|infer ...`
sets RANK, WORLD_SIZE and LOCAL_RANK; training shards its samples over the processes, `dff infer
--input-list` its videos."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .builders import select_device


@dataclass
class Dist:
    """This process's place in the run."""
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this call created the process group, so tears it down

    @property
    def main(self) -> bool:
        """Rank 0 logs, validates and saves."""
        return self.rank == 0


def setup_distributed(device: str = "auto") -> Dist:
    """Join torchrun's process group when WORLD_SIZE > 1; otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = select_device(device)
    if world == 1:
        return Dist(device=dev)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, dev, owns)


def teardown(ctx: Dist) -> None:
    """Destroy the process group if setup_distributed created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, ctx: Dist) -> torch.Tensor:
    """Sum of t over all processes (t itself when alone)."""
    if ctx.world_size > 1:
        dist.all_reduce(t)
    return t


def barrier(ctx: Dist) -> None:
    """Wait for every process (no-op when alone)."""
    if ctx.world_size > 1:
        dist.barrier()


def gather_objects(obj, ctx: Dist) -> list:
    """Every process's obj, by rank."""
    if ctx.world_size == 1:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
