"""One optimizer step: micro-batches, autocast, gradient scaling, clipping, the non-finite guard."""
from __future__ import annotations

import contextlib

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ...config import ConfigError
from ..processes import Dist, all_reduce_sum

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def amp_dtype(name: str):
    """train.amp to an autocast dtype (None: off)."""
    if name not in AMP_DTYPES:
        raise ConfigError(f"unknown train.amp {name!r}; valid: {', '.join(AMP_DTYPES)}")
    return AMP_DTYPES[name]


def build_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler:
    """GradScaler, enabled for fp16 only (bf16 has fp32's range); an unknown train.amp is an error."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype(amp) is torch.float16)


def set_train_mode(model: torch.nn.Module, frozen: list, freeze_bn: bool) -> None:
    """model.train(), except frozen modules and (train.freeze_bn) every BatchNorm."""
    model.train()
    for m in frozen:  # fixed BN statistics too, and inference-only flow nets allowed
        m.eval()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.eval()


def to_device(batch, device: torch.device, channels_last: bool):
    """(clip, target, offset) onto device; each frame of clip channels-last on request."""
    clip, target, offset = (t.to(device, non_blocking=True) for t in batch)
    if channels_last:  # (N, T, 3, H, W) stored as (N, T, H, W, 3): every clip[:, t] is NHWC
        clip = clip.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    return clip, target, offset


def train_step(net, micro: list, opt, scaler, tc: dict, ctx: Dist, it: int, count) -> dict:
    """Forward/backward over the micro-batches, then one optimizer step; loss terms averaged over
    processes. Raises FloatingPointError (before any update) on a non-finite loss.

    count(target): what a micro-batch's loss sums are divided by (TrainForward.count).
    """
    params = [p for g in opt.param_groups for p in g["params"]]
    dtype = amp_dtype(tc["amp"])
    # The normaliser of the whole step on every process (see objective.pixel_ce).
    total = sum(count(target) for _, target, _ in micro).to(ctx.device, torch.float32)
    total = all_reduce_sum(total, ctx).clamp(min=1)
    opt.zero_grad(set_to_none=True)
    sums: dict[str, torch.Tensor] = {}
    for i, (clip, target, offset) in enumerate(micro):
        last = i == len(micro) - 1
        sync = contextlib.nullcontext() if last or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            with torch.autocast(ctx.device.type, dtype=dtype, enabled=dtype is not None):
                parts = net(clip, target, offset)
            # x world size: DDP averages gradients over processes, total already counts all.
            terms = {n: s / total * ctx.world_size for n, s in parts.items()}
            check = all_reduce_sum(torch.stack([t.detach() for t in terms.values()]), ctx) / ctx.world_size
            if not torch.isfinite(check).all():  # every process sees the same values: all stop
                bad = {n: v.item() for n, v in zip(terms, check)}
                raise FloatingPointError(f"iteration {it + 1}: non-finite loss {bad} (micro-batch {i}); "
                                         "stopped before the optimizer step, nothing saved from it")
            scaler.scale(sum(terms.values())).backward()
        for n, v in zip(terms, check):
            sums[n] = sums.get(n, 0.0) + v
    out = {n: float(v) for n, v in sums.items()}
    if tc["clip_grad"]:
        scaler.unscale_(opt)
        out["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, tc["clip_grad"]))
    scaler.step(opt)
    scaler.update()
    return out
