"""The key network one key frame ahead: under the fixed policy the next key frame is known, so its
key network runs in a second thread while the frames before it are propagated, and two CPU
cores work where the key network alone would keep one busy."""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


def keys_ahead(frames: Iterable[np.ndarray], k: int, prepare: Callable, key: Callable,
               key_cpus: set[int] | None = None) -> Iterator[tuple[np.ndarray, torch.Tensor, object]]:
    """(frame, prepare(frame), key(prepare(frame)) or None) in order, frames 0, k, 2k, ... keyed,
    each key's result computed in a thread while up to k frames before it are consumed.

    key_cpus: the CPUs that thread runs on (os.sched_setaffinity); None: any.
    """
    it, window, index = iter(frames), deque(), 0
    pin = {"initializer": os.sched_setaffinity, "initargs": (0, key_cpus)} if key_cpus else {}
    with ThreadPoolExecutor(1, thread_name_prefix="dff-key", **pin) as pool:
        def read() -> bool:  # the next frame into the window; its key network started if it is a key
            nonlocal index
            frame = next(it, None)
            if frame is None:
                return False
            x = prepare(frame)  # the fixed policy keys frames 0, k, 2k, ... after a reset
            window.append((frame, x, pool.submit(key, x) if index % k == 0 else None))
            index += 1
            return True
        more = True
        while True:
            while more and len(window) <= k:  # the frame to step and the next key after it
                more = read()
            if not window:
                return
            frame, x, future = window.popleft()
            yield frame, x, None if future is None else future.result()
