"""Timing in turns: every candidate once a round, round after round, so that a change in the
machine's load (a shared CPU) falls on all alike and their ratios come from the same moments."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def synchronizer(device: torch.device):
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def time_in_turns(fns: dict, reps: int, device: torch.device = torch.device("cpu")) -> dict:
    """Median wall time (s) of each fn after one warm-up call, timed round-robin."""
    sync = synchronizer(device)
    for fn in fns.values():  # warm-up
        fn()
    sync()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def rounds_in_turns(runs: dict[str, Callable[[], float]], rounds: int,
                    after_round: Callable[[int, dict], None] | None = None) -> dict[str, list[float]]:
    """Each run's own figure (e.g. frames/s end to end), `rounds` times: every run once a round,
    each first in turn, so that a drift of the machine's speed falls on all; after_round(r,
    figures so far) after each."""
    out: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out[name].append(runs[name]())
        if after_round is not None:
            after_round(r, out)
    return out
