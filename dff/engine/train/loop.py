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
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...config import ConfigError, save_config
from ...config import validate as check_config
from ...data.flow_pairs import FlowPairDataset, read_ground_truth
from ...data.outputs import RESUMING, mark, refuse_foreign_run_dir
from ...data.pairs import PairDataset
from ..builders import classes_of, load_split, model_from_config, num_classes_of
from ..checkpoint import describe, load_checkpoint, load_weights, save_checkpoint
from ..evaluate import check_distances, evaluate
from ..flow_epe import evaluate_flow, format_flow
from ..processes import barrier, gather_objects, setup_distributed, teardown
from .distributed import ShardSampler, convert_sync_bn, epoch_batches, wrap_ddp
from .objective import TrainForward, unused_parameters
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


def fixed_modules(model: torch.nn.Module, tc: dict, main: bool) -> list[str]:
    """train.freeze, plus for train.objective distill the key network (the teacher stays as it is)."""
    names = list(tc["freeze"])
    if tc["objective"] == "distill":
        added = [m for m in model.branches["reference"] if m not in names]
        if added and main:
            print(f"train.objective distill: the key network is the teacher, kept fixed ({', '.join(added)})")
        names += added
    return names


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
        print(f"train.objective {forward.objective}: {len(unused)} parameters unused, kept fixed ({', '.join(tops)})")


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


def _train(cfg: dict, work_dir: Path, ctx, progress: bool, resume, stop_after) -> dict:
    """train() inside the process group."""
    cfg = check_config(cfg)  # a config built in code is checked as a file is, before anything is written
    refuse_foreign_run_dir(work_dir, RESUMING if resume else "writing into it")
    tc, k, dev = cfg["train"], cfg["model"]["key_interval"], ctx.device
    resume_from = resolve_resume(resume, work_dir)  # a missing PATH fails before data decoding
    seed_everything(tc["seed"] + ctx.rank)  # rank 0 initialises the model (DDP broadcasts it)
    num_classes = num_classes_of(cfg)
    cfg = {**cfg, "model": {**cfg["model"], "num_classes": num_classes}}

    # Model, optimizer and scheduler come before the data: their builders check the config's
    # names, which should fail in seconds, not after the minutes spent decoding frames.
    model = model_from_config(cfg, num_classes)
    names, palette = classes_of(cfg, model)  # saved with every checkpoint, for dff.load and infer
    m = cfg["model"]
    loaded = init_from(model, m["load_from"], m["load_modules"]) if m["load_from"] and ctx.main else None
    frozen = freeze(model, fixed_modules(model, tc, ctx.main))
    model = convert_sync_bn(model, ctx, tc["sync_bn"]).to(dev)
    if tc["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    forward = TrainForward(model, tc["objective"], cfg["data"]["ignore_index"], tc["distill_temperature"],
                           tc["lovasz_weight"])
    pair_only = cfg["model"]["propagation"] == "direct" or tc["objective"] in ("per_frame", "flow")
    crop = cfg["data"]["crop_size"] or [cfg["data"]["short_side"]] * 2
    fix_unused(forward, crop, 2 if pair_only else k, ctx.main)
    opt = build_optimizer(model, tc)
    sched = build_scheduler(opt, tc)
    scaler = build_scaler(tc["amp"], dev)
    # Restored before anything is written: a checkpoint that does not fit leaves the run untouched.
    start, best, last_val = 0, -math.inf, None
    if resume_from is not None:
        start, best = restore_training(load_checkpoint(resume_from), resume_from, model, opt, sched, scaler, cfg, ctx)
        if ctx.main:
            print(f"resumed from {resume_from} at iteration {start}")
    kept = KeptCheckpoints(work_dir, tc["keep_last"])
    if ctx.main:
        work_dir.mkdir(parents=True, exist_ok=True)
        mark(work_dir)  # what `dff train --overwrite` may replace
        save_config(cfg, work_dir / "config.yaml")
        if loaded is not None:
            (work_dir / "load_from.json").write_text(json.dumps(loaded, indent=1))

    val_store = load_split(cfg, "val") if ctx.main and tc["val_every"] else None
    if val_store is not None and tc["objective"] != "flow":
        check_distances(val_store, k)  # before the (larger) train split is decoded
    train_store = load_split(cfg, "train")
    if tc["objective"] == "flow":
        dataset = FlowPairDataset(train_store, read_ground_truth(train_store), cfg["data"]["crop_size"],
                                  seed=tc["seed"], jitter=cfg["data"]["jitter"])
        val_store = val_store and (val_store, read_ground_truth(val_store))
    else:
        dataset = PairDataset(train_store, k - 1, cfg["data"]["crop_size"], cfg["data"]["ignore_index"],
                              cfg["data"]["scale_range"], pair_only=pair_only, seed=tc["seed"],
                              jitter=cfg["data"]["jitter"])
    if len(dataset) // ctx.world_size < tc["batch_size"]:
        raise ValueError(f"train.batch_size {tc['batch_size']} exceeds the {len(dataset)} training samples"
                         + (f" over {ctx.world_size} processes" if ctx.world_size > 1 else ""))
    sampler = ShardSampler(dataset, ctx, tc["seed"])
    per_epoch = len(dataset) // ctx.world_size // tc["batch_size"]  # batches

    net = wrap_ddp(forward, ctx)
    if tc["compile"]:  # true: inductor; a string names another backend (aot_eager: no codegen)
        net = torch.compile(net, **({"backend": tc["compile"]} if isinstance(tc["compile"], str) else {}))

    def state(done: int) -> dict:
        """The checkpoint of iteration `done`: plain dicts (every process's RNG states included)."""
        rng = gather_objects(rng_state(), ctx)  # collective: every process calls state()
        return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict(), "iteration": done, "epoch": done * tc["accumulate"] // per_epoch,
                "rng": rng, "world_size": ctx.world_size, "num_classes": num_classes, "best_metric": best,
                "config": cfg, "class_names": names, "palette": palette}

    log = RunLog(work_dir, ctx.main)
    if start:
        log.write({"iter": start, "resumed_from": str(resume_from)})
    batches = epoch_batches(dataset, sampler, tc, ctx, start * tc["accumulate"])
    images_per_step = tc["batch_size"] * tc["accumulate"] * ctx.world_size
    bar = tqdm(range(start, tc["iters"]), initial=start, total=tc["iters"], desc="train",
               disable=not (progress and ctx.main), dynamic_ncols=True)
    t0, t_log, it_log, done = time.time(), time.time(), start, start
    for it in bar:
        set_train_mode(model, frozen, tc["freeze_bn"])
        micro = [to_device(next(batches), dev, tc["channels_last"]) for _ in range(tc["accumulate"])]
        terms = train_step(net, micro, opt, scaler, tc, ctx, it, forward.count)
        sched.step()
        done = it + 1
        if done % tc["log_every"] == 0 or done == tc["iters"]:
            now = time.time()
            rate = (done - it_log) / max(now - t_log, 1e-9)
            t_log, it_log = now, done
            loss = sum(v for n, v in terms.items() if n != "grad_norm")
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{sched.get_last_lr()[0]:.2e}", img_s=f"{rate * images_per_step:.1f}")
            log.write({"iter": done, "loss": loss, **({"terms": terms} if len(terms) > 1 else {}),
                       "lr": sched.get_last_lr()[0], "it_per_s": round(rate, 4), "elapsed_s": round(now - t0, 1)})
        end = done == tc["iters"]
        if tc["val_every"] and (done % tc["val_every"] == 0 or end):
            ckpt = state(done)
            if ctx.main:
                last_val, metric = validate(model, val_store, cfg, num_classes, done, dev)
                log.write({"iter": done, "val": last_val})
                if metric > best:
                    best = ckpt["best_metric"] = metric
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
    log.close()
    return {"work_dir": str(work_dir), "best_metric": best, "objective": tc["objective"], "last_val": last_val,
            "iteration": done, "train_seconds": round(time.time() - t0, 1)}


def validate(model, val_store, cfg: dict, num_classes: int, done: int, dev) -> tuple[dict, float]:
    """Evaluate on val frames; the score best.pt is chosen by (per objective; flow: minus the EPE)."""
    tc, k = cfg["train"], cfg["model"]["key_interval"]
    if tc["objective"] == "flow":
        res = evaluate_flow(model.flow_net, *val_store, device=dev)
        tqdm.write(f"iter {done} val: " + format_flow(res, model.flow_net.__class__.__name__))
        return res, -res["epe"]
    distill = tc["objective"] == "distill"
    res = evaluate(model, val_store, k, num_classes, cfg["data"]["ignore_index"], max_frames=tc["val_frames"],
                   device=dev, against_teacher=distill)
    if distill:  # the teacher's own output is the target: agreement with it, labels or not
        tqdm.write(f"iter {done} val: agreement with the key network mean k={k} {res['mean_agreement']:.4f}"
                   + ("" if res["mean_miou"] is None else f"  mIoU mean k={k} {res['mean_miou']:.4f}"))
        return res, res["mean_agreement"]
    metric = res["per_frame_miou"] if tc["objective"] == "per_frame" else res["mean_miou"]
    if "update_miou" in res and tc["objective"] == "per_frame":
        metric = (metric + res["update_miou"]) / 2
    tqdm.write(f"iter {done} val: per-frame {res['per_frame_miou']:.4f}  {res['model']} mean k={k} "
               f"{res['mean_miou']:.4f}" + (f"  update alone {res['update_miou']:.4f}" if "update_miou" in res else ""))
    return res, metric
