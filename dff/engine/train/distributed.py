"""Data-parallel training: each of torchrun's processes (processes.py) trains on its own shard of
every step's samples (gloo on CPU, NCCL on CUDA)."""
from __future__ import annotations

import itertools

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ...config import ConfigError
from ..processes import Dist


def convert_sync_bn(model: torch.nn.Module, ctx: Dist, sync_bn: bool) -> torch.nn.Module:
    """SyncBatchNorm in place of BatchNorm when asked for and running on several processes."""
    if sync_bn and ctx.device.type != "cuda":
        raise ConfigError("train.sync_bn needs CUDA: torch's SyncBatchNorm runs on GPUs only; on CPU "
                          "set train.sync_bn=false (per-process BatchNorm) or train.freeze_bn=true")
    if sync_bn and ctx.world_size > 1:
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def wrap_ddp(module: torch.nn.Module, ctx: Dist) -> torch.nn.Module:
    """DistributedDataParallel over the trainable parameters (module itself when alone)."""
    if ctx.world_size == 1:
        return module
    # Every trainable parameter is used on every step (train.py fixes the others), so DDP needs
    # no find_unused_parameters and its extra graph traversal.
    return DistributedDataParallel(module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


class ShardSampler(DistributedSampler):
    """DistributedSampler (shuffled per epoch from the seed, tail dropped so every rank has as many
    samples) that can start mid-epoch, for an exact resume."""

    def __init__(self, dataset, ctx: Dist, seed: int):
        super().__init__(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
                         drop_last=True)
        self.start = 0

    def __iter__(self):
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start


def epoch_batches(dataset, sampler: ShardSampler, tc: dict, ctx: Dist, first_batch: int):
    """Batches forever from global batch number first_batch on; epoch e draws from (seed, e)."""
    per_epoch = len(dataset) // ctx.world_size // tc["batch_size"]
    epoch, skip = divmod(first_batch, per_epoch)
    while True:
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        sampler.start = skip * tc["batch_size"]
        # An explicit generator: worker seeds never draw from (and so never shift) the global RNG.
        gen = torch.Generator().manual_seed(tc["seed"] * 100_003 + epoch * 1_009 + ctx.rank)
        yield from DataLoader(dataset, batch_size=tc["batch_size"], sampler=sampler, drop_last=True,
                              num_workers=tc["workers"], generator=gen, pin_memory=ctx.device.type == "cuda")
        epoch, skip = epoch + 1, 0
