"""Decoding, the model and rendering + encoding overlapped: a reader thread ahead of the model and
a writer thread behind it, each behind a bounded queue, so that memory stays constant in video
length. The work in them (PyAV / OpenCV decoding and encoding, OpenCV drawing) releases the GIL."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

_END = object()


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
