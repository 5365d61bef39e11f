"""Exact resume: every process's RNG states, the newest loadable checkpoint, pruning old ones."""
from __future__ import annotations

import random
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint, load_weights
from ..processes import Dist

KEEP_PATTERN = re.compile(r"ckpt_(\d+)\.pt")


def rng_state() -> dict:
    """Python, numpy and torch (and CUDA) RNG states as tensors and plain types."""
    version, keys, gauss = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {"python": torch.tensor(keys, dtype=torch.int64), "python_version": version, "python_gauss": gauss,
             "numpy": torch.from_numpy(np_keys.astype(np.int64)), "numpy_pos": int(np_pos),
             "numpy_gauss": [int(np_has_gauss), float(np_gauss)], "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what rng_state returned."""
    random.setstate((state["python_version"], tuple(state["python"].tolist()), state["python_gauss"]))
    has_gauss, gauss = state["numpy_gauss"]
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def kept_checkpoints(work_dir: str | Path) -> list[Path]:
    """ckpt_<iteration>.pt files in work_dir, oldest first."""
    found = [(int(m.group(1)), p) for p in Path(work_dir).glob("ckpt_*.pt") if (m := KEEP_PATTERN.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


class KeptCheckpoints:
    """The newest `keep` ckpt_<iteration>.pt files of a run (a folder dff wrote: train refuses any
    other), older ones deleted."""

    def __init__(self, work_dir: str | Path, keep: int) -> None:
        self.work_dir, self.keep = Path(work_dir), keep

    def paths(self, iteration: int) -> list[Path]:
        """Where iteration's checkpoint is kept ([] when keep is 0)."""
        return [self.work_dir / f"ckpt_{iteration:06d}.pt"] if self.keep else []

    def prune(self) -> None:
        """Delete the checkpoints but the newest `keep`."""
        kept = kept_checkpoints(self.work_dir)
        for p in kept[:max(0, len(kept) - self.keep)]:
            p.unlink(missing_ok=True)


def find_resume(work_dir: str | Path) -> Path | None:
    """The loadable checkpoint with the highest iteration among last.pt and ckpt_*.pt, or None.

    Unloadable files (truncated by a crash mid-copy, say) are skipped with a warning.
    """
    best, best_it = None, -1
    for path in [Path(work_dir) / "last.pt", *reversed(kept_checkpoints(work_dir))]:
        if not path.is_file():
            continue
        try:
            it = int(load_checkpoint(path).get("iteration", -1))
        except ValueError as e:
            warnings.warn(f"--resume auto: skipping {e}", stacklevel=2)
            continue
        if it > best_it:
            best, best_it = path, it
    return best


def resolve_resume(resume: str | Path | None, work_dir: str | Path) -> Path | None:
    """--resume: None, 'auto' (newest loadable checkpoint in work_dir, if any) or a path that must exist."""
    if resume is None:
        return None
    if str(resume) == "auto":
        return find_resume(work_dir)
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"--resume {path}: checkpoint not found")
    return path


def restore_training(ckpt: dict, path, model, opt, sched, scaler, cfg: dict, ctx: Dist) -> tuple[int, float]:
    """Load a checkpoint's full training state (read from path) into the run's objects; (iteration,
    best metric). Weights that do not fit are a ValueError naming the file and the keys."""
    load_weights(model, ckpt, path)
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    old = ckpt.get("config", {}).get("train", {})
    changed = sorted(key for key, v in cfg["train"].items() if key in old and old[key] != v)
    if ckpt.get("world_size") != ctx.world_size or {"batch_size", "accumulate", "seed"} & set(changed):
        warnings.warn("resuming with another world size, batch size, accumulation or seed: "
                      "the data order and random draws differ from an uninterrupted run", stacklevel=2)
    elif changed and ctx.main:
        print(f"resume: train settings changed since the checkpoint: {', '.join(changed)}")
    rng = ckpt["rng"]
    set_rng_state(rng[ctx.rank] if ctx.rank < len(rng) else rng[0])
    return int(ckpt["iteration"]), float(ckpt["best_metric"])
