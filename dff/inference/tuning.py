"""The operating system tuned for a long video: glibc's allocator, and the CPUs and threads of the
model beside the decoding and encoding threads (queues.py)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import torch


def tune_malloc(arenas: int = 2, keep_mb: int = 64) -> bool:
    """glibc's allocator for a long video (mallopt); False where there is no glibc. Process-wide,
    so the command line calls it, not the library.

    arenas: at most this many malloc arenas (M_ARENA_MAX). With an arena per thread, the memory the
    pipeline's threads free in turn stays with them: `dff infer`'s RSS swung by ~35 MB over a
    2000-frame video (flat at 2 arenas, same speed).
    keep_mb: blocks up to this size come from the heap and freed ones stay there for reuse
    (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD twice it). By default glibc handed the frames' and
    tensors' memory back and took it again: ~1500 page faults per 960 x 540 frame, 4 ms of kernel
    time; with it none once warm, `dff infer` 4-15% faster on 2 cores, RSS flat at the pipeline's peak.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return all([libc.mallopt(-8, arenas), libc.mallopt(-3, keep_mb << 20), libc.mallopt(-1, 2 * keep_mb << 20)])
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False


def split_cores() -> tuple[set[int], set[int]] | None:
    """(one CPU for the key network's thread, the others for the rest) of the CPUs this process may
    run on; None where there are fewer than two or no per-thread affinity (not Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[-1]}, set(cpus[:-1])) if len(cpus) >= 2 else None


@dataclass(frozen=True)
class CpuPlan:
    """How a video's work shares the CPUs.

    Args:
        model_threads: torch's intra-op threads for the model.
        ahead: the next key frame's key network runs in a thread of its own, beside propagation.
        key_cpus: with ahead, the CPU that thread runs on; None: any.
        io_threads: threads of the decoder and encoder (None: their defaults).
    """

    model_threads: int
    ahead: bool
    key_cpus: set[int] | None = None
    io_threads: int | None = None
    others: set[int] | None = None  # the CPUs of the rest of the pipeline


def plan_cpus(on_cpu: bool, threads: int | None, realtime: bool) -> CpuPlan:
    """threads: the model's CPU threads (default one less than torch's: a core for the pipeline's
    decoding and encoding threads; a heavy key network may run faster with all). With one, the
    next key frame's key network runs in a second thread on a CPU of its own (Linux): the rest of
    the pipeline shares the others, its decoder, encoder and OpenCV at one thread each. Live
    sources (realtime) read no frame ahead."""
    before = torch.get_num_threads()
    model_threads = (threads or max(1, before - 1)) if on_cpu else before
    # a model on one CPU thread: the next key network runs in a second one, beside propagation
    # (more threads each would oversubscribe)
    ahead = on_cpu and model_threads == 1 and not realtime
    # On 2 cores, left to the scheduler, the other threads took ~10% of the key network's thread's
    # time, and it is the slower side; given a core of its own, with no codec or OpenCV threads
    # switching on the other, `dff infer` ran 3-13% faster (medians of 6 rounds; docs/benchmarking.md (j)).
    split = split_cores() if ahead else None
    if split is None:
        return CpuPlan(model_threads, ahead)
    return CpuPlan(model_threads, ahead, split[0], 1, split[1])


@contextmanager
def applied(plan: CpuPlan):
    """The plan's thread counts and affinity for the duration (threads started inside inherit the
    affinity), then this process's settings as they were."""
    before, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    try:
        torch.set_num_threads(plan.model_threads)
        if plan.key_cpus:
            os.sched_setaffinity(0, plan.others)
            cv2.setNumThreads(1)
        yield
    finally:
        torch.set_num_threads(before)
        if plan.key_cpus:
            os.sched_setaffinity(0, plan.key_cpus | plan.others)  # all this process's CPUs, as split_cores read them
            cv2.setNumThreads(cv_threads)
