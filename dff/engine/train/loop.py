"""Training loop for DFF and Accel on (key ... current) frame windows, on one or many processes.

One process: `dff train CONFIG`; data-parallel: `torchrun --nproc-per-node N -m dff train CONFIG`
(distributed.py). `--resume auto|PATH` continues a run exactly: weights, optimizer, scheduler,
gradient scaler, every process's RNG states and the position in the data order.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...config import ConfigError, save_config
from ...config import validate as check_config
from ...io.outputs import RESUMING, mark, refuse_foreign_run_dir
from ..builders import classes_of, load_split, model_from_config, num_classes_of
from ..checkpoint import describe, load_checkpoint, load_weights, save_checkpoint
from ..processes import barrier, gather_objects, setup_distributed, teardown
from .distributed import ShardSampler, convert_sync_bn, epoch_batches, wrap_ddp
from .objective import Objective, TrainForward, build_objective, unused_parameters
from .optim import build_optimizer, build_scheduler
from .resume import KeptCheckpoints, resolve_resume, restore_training, rng_state
from .runlog import RunLog
from .step import build_scaler, set_train_mode, to_device, train_step


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def freeze(model: torch.nn.Module, names) -> list[torch.nn.Module]:
    """Fix the named modules (train.freeze): no gradients; returned to keep in eval mode. Dotted
    names fix a submodule (backbone.stem): fixing a backbone's first, high-resolution layers
    spares their backward pass, the costliest part of a step."""
    modules = dict(model.named_modules())
    bad = [n for n in names if not n or n not in modules]
    if bad:
        raise ConfigError(f"train.freeze: unknown module(s) {', '.join(bad)}; valid: "
                          f"{', '.join(dict(model.named_children()))} or their submodules by dotted name "
                          "(backbone.stem)")
    for n in names:
        modules[n].requires_grad_(False)
    return [modules[n] for n in names]


def fixed_modules(model: torch.nn.Module, tc: dict, objective: Objective, main: bool) -> list[str]:
    """train.freeze, plus what the objective keeps fixed (distill: the key network, the teacher)."""
    names = list(tc["freeze"])
    added = [m for m in objective.teacher(model) if m not in names]
    if added and main:
        print(f"train.objective {objective.name}: the key network is the teacher, kept fixed ({', '.join(added)})")
    return names + added


def init_from(model: torch.nn.Module, paths, modules=None) -> list[dict]:
    """model.load_from: initialise weights from checkpoint(s), later files winning; what did not
    fit is printed and returned (written to load_from.json), never passed over silently.
    modules (model.load_modules): take only these top-level modules (e.g. a pretrained flow_net)."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    reports = [load_weights(model, load_checkpoint(p), p, partial=True, only=modules) for p in paths]
    for report in reports:
        print(describe(report))
    return reports


def fix_unused(forward: TrainForward, crop_size, window: int, main: bool) -> None:
    """Fix trainable parameters the objective never reaches (per_frame: flow net and fusion; feature
    fusion: the update head), so every trainable parameter has a gradient on every step."""
    unused = unused_parameters(forward, crop_size, window)
    params = dict(forward.model.named_parameters())
    for name in unused:
        params[name].requires_grad_(False)
    if unused and main:
        tops = sorted({n.split(".")[0] for n in unused})
        print(f"train.objective {forward.objective.name}: {len(unused)} parameters unused, kept fixed "
              f"({', '.join(tops)})")


def train(cfg: dict, work_dir: str | Path, device: str = "auto", progress: bool = True,
          resume: str | Path | None = None, stop_after: int | None = None) -> dict:
    """Train per cfg, writing config.yaml, last.pt, best.pt, ckpt_<iter>.pt and metrics.jsonl.

    resume: None, "auto" (newest loadable checkpoint in work_dir, if any) or a checkpoint path.
    stop_after: end after this iteration as an interrupted run would (checkpoints per save_every
    only); for tests and time-boxed jobs.
    """
    ctx = setup_distributed(device)
    try:
        return _train(cfg, Path(work_dir), ctx, progress, resume, stop_after)
    finally:
        teardown(ctx)


@dataclass
class _Setup:
    """What a run trains: the model and its objective, the optimizer's state, where it starts."""
    cfg: dict
    model: torch.nn.Module
    forward: TrainForward
    frozen: list
    opt: torch.optim.Optimizer
    sched: object
    scaler: torch.amp.GradScaler
    classes: tuple[list[str], str | None]
    loaded: list | None
    start: int = 0
    best: float = -math.inf


def _train(cfg: dict, work_dir: Path, ctx, progress: bool, resume, stop_after) -> dict:
    """train() inside the process group."""
    cfg = check_config(cfg)  # a config built in code is checked as a file is, before anything is written
    refuse_foreign_run_dir(work_dir, RESUMING if resume else "writing into it")
    resume_from = resolve_resume(resume, work_dir)  # a missing PATH fails before data decoding
    seed_everything(cfg["train"]["seed"] + ctx.rank)  # rank 0 initialises the model (DDP broadcasts it)
    run = _setup({**cfg, "model": {**cfg["model"], "num_classes": num_classes_of(cfg)}}, ctx)
    # Restored before anything is written: a checkpoint that does not fit leaves the run untouched.
    if resume_from is not None:
        run.start, run.best = restore_training(load_checkpoint(resume_from), resume_from, run.model, run.opt,
                                               run.sched, run.scaler, run.cfg, ctx)
        if ctx.main:
            print(f"resumed from {resume_from} at iteration {run.start}")
    if ctx.main:
        work_dir.mkdir(parents=True, exist_ok=True)
        mark(work_dir)  # what `dff train --overwrite` may replace
        save_config(run.cfg, work_dir / "config.yaml")
        if run.loaded is not None:
            (work_dir / "load_from.json").write_text(json.dumps(run.loaded, indent=1))
    val, dataset = _data(run, ctx)
    log = RunLog(work_dir, ctx.main)
    if run.start:
        log.write({"iter": run.start, "resumed_from": str(resume_from)})
    try:
        return _fit(run, dataset, val, work_dir, ctx, log, progress, stop_after)
    finally:
        log.close()


def _setup(cfg: dict, ctx) -> _Setup:
    """Model, objective, optimizer and scheduler. They come before the data: their builders check
    the config's names, which should fail in seconds, not after the minutes spent decoding frames."""
    tc, m = cfg["train"], cfg["model"]
    model = model_from_config(cfg, m["num_classes"])
    classes = classes_of(cfg, model)  # saved with every checkpoint, for dff.load and infer
    loaded = init_from(model, m["load_from"], m["load_modules"]) if m["load_from"] and ctx.main else None
    objective = build_objective(tc["objective"], cfg["data"]["ignore_index"], tc["distill_temperature"],
                                tc["lovasz_weight"])
    frozen = freeze(model, fixed_modules(model, tc, objective, ctx.main))
    model = convert_sync_bn(model, ctx, tc["sync_bn"]).to(ctx.device)
    if tc["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    forward = TrainForward(model, objective)
    crop = cfg["data"]["crop_size"] or [cfg["data"]["short_side"]] * 2
    fix_unused(forward, crop, objective.window(m["propagation"], m["key_interval"]), ctx.main)
    opt = build_optimizer(model, tc)
    return _Setup(cfg, model, forward, frozen, opt, build_scheduler(opt, tc), build_scaler(tc["amp"], ctx.device),
                  classes, loaded)


def _data(run: _Setup, ctx) -> tuple:
    """(what validation scores or None, the training samples); val first: its check is quick."""
    cfg, objective = run.cfg, run.forward.objective
    tc = cfg["train"]
    val_store = load_split(cfg, "val") if ctx.main and tc["val_every"] else None
    val = None if val_store is None else objective.val_set(val_store, cfg["model"]["key_interval"])
    dataset = objective.train_set(load_split(cfg, "train"), cfg)
    if len(dataset) // ctx.world_size < tc["batch_size"]:
        raise ValueError(f"train.batch_size {tc['batch_size']} exceeds the {len(dataset)} training samples"
                         + (f" over {ctx.world_size} processes" if ctx.world_size > 1 else ""))
    return val, dataset


def _fit(run: _Setup, dataset, val, work_dir: Path, ctx, log: RunLog, progress: bool, stop_after) -> dict:
    """The optimizer steps from run.start to train.iters, with validation and checkpoints."""
    cfg, model, tc, dev = run.cfg, run.model, run.cfg["train"], ctx.device
    sampler = ShardSampler(dataset, ctx, tc["seed"])
    per_epoch = len(dataset) // ctx.world_size // tc["batch_size"]  # batches
    net = wrap_ddp(run.forward, ctx)
    if tc["compile"]:  # true: inductor; a string names another backend (aot_eager: no codegen)
        net = torch.compile(net, **({"backend": tc["compile"]} if isinstance(tc["compile"], str) else {}))

    def state(done: int) -> dict:
        """The checkpoint of iteration `done`: plain dicts (every process's RNG states included)."""
        rng = gather_objects(rng_state(), ctx)  # collective: every process calls state()
        return {"model": model.state_dict(), "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(),
                "scaler": run.scaler.state_dict(), "iteration": done, "epoch": done * tc["accumulate"] // per_epoch,
                "rng": rng, "world_size": ctx.world_size, "num_classes": cfg["model"]["num_classes"],
                "best_metric": run.best, "config": cfg, "class_names": run.classes[0], "palette": run.classes[1]}

    kept, last_val = KeptCheckpoints(work_dir, tc["keep_last"]), None
    batches = epoch_batches(dataset, sampler, tc, ctx, run.start * tc["accumulate"])
    images_per_step = tc["batch_size"] * tc["accumulate"] * ctx.world_size
    bar = tqdm(range(run.start, tc["iters"]), initial=run.start, total=tc["iters"], desc="train",
               disable=not (progress and ctx.main), dynamic_ncols=True)
    t0, t_log, it_log, done = time.time(), time.time(), run.start, run.start
    for it in bar:
        set_train_mode(model, run.frozen, tc["freeze_bn"])
        micro = [to_device(next(batches), dev, tc["channels_last"]) for _ in range(tc["accumulate"])]
        terms = train_step(net, micro, run.opt, run.scaler, tc, ctx, it, run.forward.count)
        run.sched.step()
        done = it + 1
        if done % tc["log_every"] == 0 or done == tc["iters"]:
            now = time.time()
            rate = (done - it_log) / max(now - t_log, 1e-9)
            t_log, it_log = now, done
            loss = sum(v for n, v in terms.items() if n != "grad_norm")
            lr = run.sched.get_last_lr()[0]
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", img_s=f"{rate * images_per_step:.1f}")
            log.write({"iter": done, "loss": loss, **({"terms": terms} if len(terms) > 1 else {}),
                       "lr": lr, "it_per_s": round(rate, 4), "elapsed_s": round(now - t0, 1)})
        end = done == tc["iters"]
        if tc["val_every"] and (done % tc["val_every"] == 0 or end):
            ckpt = state(done)
            if ctx.main:
                last_val, metric = run.forward.objective.validate(model, val, cfg, cfg["model"]["num_classes"],
                                                                  done, dev)
                log.write({"iter": done, "val": last_val})
                if metric > run.best:
                    run.best = ckpt["best_metric"] = metric
                    save_checkpoint(ckpt, work_dir / "best.pt")
            barrier(ctx)
        if done % tc["save_every"] == 0 or end:
            ckpt = state(done)
            if ctx.main:
                save_checkpoint(ckpt, work_dir / "last.pt", *kept.paths(done))
                kept.prune()
        if stop_after is not None and done >= stop_after:
            break
    bar.close()
    return {"work_dir": str(work_dir), "best_metric": run.best, "objective": tc["objective"], "last_val": last_val,
            "iteration": done, "train_seconds": round(time.time() - t0, 1)}
