"""Training loop for DFF and Accel on (key ... current) frame windows."""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import ConfigError, save_config
from ..data.datasets import PairDataset
from .checkpoint import save_checkpoint
from .evaluate import evaluate, format_table
from .setup import init_from, load_split, model_from_config, num_classes_of, select_device

OBJECTIVES = ("propagated", "per_frame")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(it: int, iters: int, warmup: int) -> float:
    """Linear warm-up, then poly(0.9) decay."""
    if it < warmup:
        return (it + 1) / warmup
    return (1 - (it - warmup) / max(1, iters - warmup)) ** 0.9


def freeze(model: torch.nn.Module, names) -> list[torch.nn.Module]:
    """Fix the named top-level modules (train.freeze): no gradients; returned to keep in eval mode."""
    children = dict(model.named_children())
    bad = [n for n in names if n not in children]
    if bad:
        raise ConfigError(f"train.freeze: unknown module(s) {', '.join(bad)}; valid: {', '.join(children)}")
    for n in names:
        children[n].requires_grad_(False)
    return [children[n] for n in names]


def compute_loss(model, clip, label, offset, objective: str, ignore_index: int) -> torch.Tensor:
    """Cross-entropy of the propagated output, or summed over the branches run per frame.

    per_frame skips branches that train.freeze fixed entirely (no wasted forward passes).
    """
    if objective == "propagated":
        return F.cross_entropy(model(clip, offset), label, ignore_index=ignore_index)
    names = [n for n, mods in model.branches().items() if any(p.requires_grad for m in mods for p in m.parameters())]
    if not names:
        raise ConfigError("train.objective per_frame: every branch is frozen")
    frame = clip[:, -1]
    return sum(F.cross_entropy(model.branch_logits(n, frame), label, ignore_index=ignore_index) for n in names)


def infinite(loader):
    """Cycle a DataLoader forever (reshuffling each pass)."""
    while True:
        yield from loader


def train(cfg: dict, work_dir: str | Path, device: str = "auto", progress: bool = True) -> dict:
    """Train per cfg, writing config.yaml, last.pt, best.pt and metrics.jsonl into work_dir."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    tc, k = cfg["train"], cfg["model"]["key_interval"]
    if tc["objective"] not in OBJECTIVES:  # before the minutes spent decoding the data
        raise ConfigError(f"unknown train.objective {tc['objective']!r}; valid: {', '.join(OBJECTIVES)}")
    seed_everything(tc["seed"])
    dev = select_device(device)
    num_classes = num_classes_of(cfg)
    cfg = {**cfg, "model": {**cfg["model"], "num_classes": num_classes}}
    save_config(cfg, work_dir / "config.yaml")

    train_store, val_store = load_split(cfg, "train"), load_split(cfg, "val")
    dataset = PairDataset(train_store, k - 1, cfg["data"]["crop_size"], cfg["data"]["ignore_index"],
                          cfg["data"]["scale_range"], pair_only=cfg["model"]["propagation"] == "direct" or tc["objective"] == "per_frame")
    loader = DataLoader(dataset, batch_size=tc["batch_size"], shuffle=True, drop_last=True,
                        num_workers=tc["workers"], generator=torch.Generator().manual_seed(tc["seed"]))
    if len(loader) == 0:
        raise ValueError(f"train.batch_size {tc['batch_size']} exceeds the {len(dataset)} training samples")
    model = model_from_config(cfg, num_classes)
    if cfg["model"]["load_from"]:
        (work_dir / "load_from.json").write_text(json.dumps(init_from(model, cfg["model"]["load_from"]), indent=1))
    frozen = freeze(model, tc["freeze"])
    model = model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("train.freeze leaves no parameter to train")
    opt = torch.optim.AdamW(params, lr=tc["lr"], weight_decay=tc["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda it: lr_factor(it, tc["iters"], tc["warmup_iters"]))

    def checkpoint(it: int, best: float) -> dict:
        return {"model": model.state_dict(), "optimizer": opt.state_dict(), "iteration": it,
                "num_classes": num_classes, "best_metric": best, "config": cfg}

    best, last_val = -math.inf, None
    log = open(work_dir / "metrics.jsonl", "a")
    batches = infinite(loader)
    bar = tqdm(range(tc["iters"]), desc="train", disable=not progress, dynamic_ncols=True)
    t0 = time.time()
    for it in bar:
        model.train()
        for m in frozen:  # fixed BN statistics too, and inference-only flow nets allowed
            m.eval()
        clip, label, offset = next(batches)
        clip, label, offset = clip.to(dev), label.to(dev), offset.to(dev)
        loss = compute_loss(model, clip, label, offset, tc["objective"], cfg["data"]["ignore_index"])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"iteration {it}: non-finite loss {loss.item()}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        done = it + 1
        if done % tc["log_every"] == 0 or done == tc["iters"]:
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{sched.get_last_lr()[0]:.2e}")
            log.write(json.dumps({"iter": done, "loss": loss.item(), "lr": sched.get_last_lr()[0],
                                  "elapsed_s": round(time.time() - t0, 1)}) + "\n")
            log.flush()
        if done % tc["val_every"] == 0 or done == tc["iters"]:
            last_val = evaluate(model, val_store, k, num_classes, cfg["data"]["ignore_index"],
                                max_frames=tc["val_frames"], device=dev)
            log.write(json.dumps({"iter": done, "val": last_val}) + "\n")
            log.flush()
            metric = last_val["per_frame_miou"] if tc["objective"] == "per_frame" else last_val["mean_miou"]
            if "update_miou" in last_val and tc["objective"] == "per_frame":
                metric = (metric + last_val["update_miou"]) / 2
            tqdm.write(f"iter {done} val: per-frame {last_val['per_frame_miou']:.4f}  "
                       f"{last_val['model']} mean k={k} {last_val['mean_miou']:.4f}"
                       + (f"  update alone {last_val['update_miou']:.4f}" if "update_miou" in last_val else ""))
            if metric > best:
                best = metric
                save_checkpoint(checkpoint(done, best), work_dir / "best.pt")
        if done % tc["save_every"] == 0 or done == tc["iters"]:
            save_checkpoint(checkpoint(done, best), work_dir / "last.pt")
    log.close()
    return {"work_dir": str(work_dir), "best_metric": best, "objective": tc["objective"], "last_val": last_val,
            "train_seconds": round(time.time() - t0, 1)}
