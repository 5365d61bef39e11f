"""Optimizer and learning-rate schedule from a config's train section."""
from __future__ import annotations

import math
from functools import partial

import torch

from ...config import ConfigError

OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("poly", "cosine", "step", "constant")


def lr_factor(it: int, iters: int, warmup: int, kind: str = "poly", power: float = 0.9,
              steps=(), gamma: float = 0.1) -> float:
    """Factor of the base lr at iteration it: linear warm-up, then poly, cosine, step or constant."""
    if it < warmup:
        return (it + 1) / warmup
    t = min(1.0, (it - warmup) / max(1, iters - warmup))
    if kind == "poly":
        return (1 - t) ** power
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if kind == "step":
        return gamma ** sum(it >= s for s in steps)
    return 1.0


def param_groups(model: torch.nn.Module, lr: float, lr_mult: dict) -> list[dict]:
    """Trainable parameters grouped by lr multiplier (train.lr_mult: {module name: factor}).

    Names are module paths (flow_net, update.head, ...); the most specific name wins.
    """
    modules = dict(model.named_modules())
    bad = [n for n in lr_mult if not n or n not in modules]
    if bad:
        raise ConfigError(f"train.lr_mult: unknown module(s) {', '.join(map(str, bad))}; valid: "
                          f"{', '.join(n for n, _ in model.named_children())} (or their dotted submodules)")
    factor: dict[int, float] = {}
    for name in sorted(lr_mult, key=len):  # longer (more specific) names override
        for p in modules[name].parameters():
            factor[id(p)] = float(lr_mult[name])
    groups: dict[float, list] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault(factor.get(id(p), 1.0), []).append(p)
    return [{"params": ps, "lr": lr * f, "lr_mult": f} for f, ps in groups.items()]


def build_optimizer(model: torch.nn.Module, tc: dict) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum, nesterov) over the trainable parameters, with lr multipliers."""
    groups = param_groups(model, tc["lr"], tc["lr_mult"] or {})
    if not groups:
        raise ConfigError("train.freeze leaves no parameter to train")
    if tc["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=tc["lr"], weight_decay=tc["weight_decay"])
    if tc["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=tc["lr"], momentum=tc["momentum"], nesterov=tc["momentum"] > 0,
                               weight_decay=tc["weight_decay"])
    raise ConfigError(f"unknown train.optimizer {tc['optimizer']!r}; valid: {', '.join(OPTIMIZERS)}")


def build_scheduler(opt: torch.optim.Optimizer, tc: dict) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration LambdaLR of lr_factor; each group keeps its multiplier."""
    if tc["scheduler"] not in SCHEDULERS:
        raise ConfigError(f"unknown train.scheduler {tc['scheduler']!r}; valid: {', '.join(SCHEDULERS)}")
    fn = partial(lr_factor, iters=tc["iters"], warmup=tc["warmup_iters"], kind=tc["scheduler"],
                 power=tc["poly_power"], steps=tuple(tc["lr_steps"]), gamma=tc["lr_gamma"])
    return torch.optim.lr_scheduler.LambdaLR(opt, fn)
