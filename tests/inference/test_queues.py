"""The streaming pipeline: decoding and encoding threads behind bounded queues,
errors from either side re-raised, --realtime dropping what arrives while the model is busy, and a
stream URL served over HTTP."""
import functools
import http.server
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from dff.cli import main
from dff.data.video import read_image
from dff.data.video import VideoReader
from dff.io.video_writer import VideoWriter
from dff.inference.queues import Drain, Prefetch
from dff.inference.tuning import split_cores


def test_prefetch_keeps_order_stays_bounded_and_passes_errors_on():
    made = []

    def items():
        for i in range(20):
            made.append(i)
            yield i

    with Prefetch(items(), depth=3) as it:
        got = []
        for x in it:
            got.append(x)
            time.sleep(0.002)
            assert len(made) - len(got) <= 3 + 1 + 1  # the queue, the one in hand, the one being put
    assert got == list(range(20))

    def broken():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"), Prefetch(broken()) as it:
        list(it)


def test_prefetch_latest_drops_what_arrives_while_the_consumer_is_busy():
    with Prefetch(iter(range(200)), latest=True) as it:
        got = []
        for x in it:
            got.append(x)
            time.sleep(0.003)
    assert got == sorted(got) and got[-1] == 199 and it.dropped > 0
    assert len(got) + it.dropped == 200


def test_drain_runs_in_order_and_raises_its_error():
    seen = []
    with Drain(seen.append, depth=2) as sink:
        for i in range(50):
            sink.put(i)
    assert seen == list(range(50))

    def fail(x):
        raise ValueError(f"cannot write {x}")

    with pytest.raises(ValueError, match="cannot write 0"), Drain(fail) as sink:
        for i in range(100):
            sink.put(i)
            time.sleep(0.001)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="per-thread CPU affinity is Linux's")
def test_split_cores_gives_one_cpu_to_the_key_network_and_the_rest_to_the_pipeline():
    cpus = os.sched_getaffinity(0)
    try:
        if len(cpus) >= 2:
            key, rest = split_cores()
            assert len(key) == 1 and key | rest == cpus and not key & rest
        os.sched_setaffinity(0, {min(cpus)})  # this thread alone on one CPU: nothing to split
        assert split_cores() is None
    finally:
        os.sched_setaffinity(0, cpus)


@pytest.fixture()
def served_video(synthetic_root, tmp_path):
    """A short video served over HTTP on localhost: a stream URL without a network."""
    frames = sorted(sorted((synthetic_root / "val").iterdir())[0].glob("frames/*.png"))
    with VideoWriter(tmp_path / "www" / "clip.mp4", 10, (48, 64), codec="mp4v") as w:
        for f in frames:
            w.write(np.ascontiguousarray(read_image(f)))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    server.shutdown()


def test_a_stream_url_is_read_and_segmented_in_realtime(tiny_run, served_video, tmp_path, capsys):
    reader = VideoReader(served_video)
    assert reader.live and reader.size == (48, 64) and len(list(reader)) == 8
    out = tmp_path / "live.mp4"
    assert main(["infer", "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu", "--input", served_video,
                 "--output", str(out), "--codec", "mp4v", "--realtime"]) == 0
    printed = capsys.readouterr().out
    written, dropped = int(printed.split(" frames")[0]), int(printed.split("decoded, ")[1].split(" dropped")[0])
    assert written + dropped == 8 and written >= 1 and len(list(VideoReader(out))) == written


FAULTS = """
import ctypes, sys
from dff.inference.tuning import tune_malloc
tuned = tune_malloc() if sys.argv[1] == "tuned" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
def faults():
    return int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[7])
def touch_and_free(n=40 << 20):  # past glibc's largest default mmap threshold (32 MB)
    p = libc.malloc(n)
    ctypes.memset(p, 1, n)
    libc.free(p)
touch_and_free()  # once: the heap grows to it
before = faults()
for _ in range(20):
    touch_and_free()
print(tuned, faults() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_tuned_malloc_reuses_freed_frames_without_page_faults():
    """By default a big block is mmapped and unmapped each time, faulting in all its pages again;
    tuned, the freed block stays in the heap and is taken again."""
    runs = {mode: subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, timeout=60)
            for mode in ("tuned", "default")}
    (tuned, tuned_faults), (_, default_faults) = (runs[m].stdout.split() for m in ("tuned", "default"))
    assert tuned == "True"
    # mapped afresh each time: 10240 pages of 4 KB (20 where transparent huge pages are always on)
    assert int(default_faults) >= 20 * 20
    assert int(tuned_faults) * 10 < int(default_faults)
