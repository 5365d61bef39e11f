"""Decoding, the model and rendering + encoding overlapped: a reader thread ahead of the model and
a writer thread behind it, each behind a bounded queue, so that memory stays constant in video
length. The work in them (PyAV / OpenCV decoding and encoding, OpenCV drawing) releases the GIL."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import threading
from collections.abc import Callable, Iterable

_END = object()


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


class Prefetch:
    """Iterate `items` in a thread, at most `depth` ahead of the consumer; its errors re-raised
    where the consumer reads. A context manager: leaving it stops the thread.

    latest: a live source that does not wait (--realtime): the consumer gets the newest item, and
    one that arrives while another waits replaces it, counted in `dropped`.
    """

    def __init__(self, items: Iterable, depth: int = 4, latest: bool = False):
        self._items, self._latest, self.dropped = items, latest, 0
        self._queue, self._stop = queue.Queue(1 if latest else depth), threading.Event()
        self._thread = threading.Thread(target=self._run, name="dff-decode", daemon=True)

    def _run(self) -> None:
        try:
            for item in self._items:
                if self._latest:
                    self._replace(item)
                elif not self._put(item):
                    return
                if self._stop.is_set():
                    return
            self._put(_END)
        except BaseException as e:  # handed to the consumer
            self._put(e)

    def _replace(self, item) -> None:
        """Put item, dropping the waiting one if the consumer has not taken it."""
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Drain:
    """Call `fn(*args)` for every `put` in a thread, at most `depth` calls waiting. Leaving the
    context waits for the last call and re-raises the thread's error; after an error in the
    body, it stops the thread without waiting for the rest."""

    def __init__(self, fn: Callable, depth: int = 4):
        self._fn, self._queue, self._error = fn, queue.Queue(depth), None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dff-encode", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                args = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if args is _END:
                return
            try:
                self._fn(*args)
            except BaseException as e:
                self._error = e
                return

    def put(self, *args) -> None:
        """Queue one call; raises the thread's error as soon as it has one."""
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(args, timeout=0.1)
                return
            except queue.Full:
                continue

    def __enter__(self) -> Drain:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._stop.set()
            self._thread.join()
            return
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is not None:
            raise self._error
