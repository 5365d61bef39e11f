"""dff.data.video: readers over files, folders, globs and streams, truncation, real clips."""

import http.server
import io
import os
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from dff.data.video import VideoError, VideoReader, VideoTruncatedError, natural_key
from dff.io.video_writer import VideoWriter
from video_fixtures import H, W, count_frames, gradient, write_mp4

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"


def save_png(path: Path, img: np.ndarray) -> None:
    """Save an RGB (or grayscale) image for folder-reader tests."""
    assert cv2.imwrite(str(path), img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def solid(v: int, h: int = 8, w: int = 10) -> np.ndarray:
    """A constant RGB frame, so folder order can be checked by content."""
    return np.full((h, w, 3), v, np.uint8)


def test_natural_key() -> None:
    assert sorted(["frame10", "frame2", "Frame1"], key=natural_key) == ["Frame1", "frame2", "frame10"]


def test_mp4_roundtrip(tmp_path: Path, codec: str) -> None:
    path = write_mp4(tmp_path / "sub" / "clip.mp4", 12, codec=codec)
    r = VideoReader(path)
    assert (r.size, r.fps, r.source) == ((H, W), 10.0, str(path))
    frames = list(r)
    assert len(frames) == r.frames_read == 12
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    errs = [np.abs(f.astype(int) - gradient(i)).mean() for i, f in enumerate(frames)]
    assert max(errs) < 12, errs
    assert len(list(r)) == r.frames_read == 12  # second pass re-opens the file
    assert count_frames(path) == 12


def test_folder_natural_order_and_gray(tmp_path: Path) -> None:
    for name, v in [("f10.png", 30), ("f1.png", 10), ("f2.png", 20)]:
        save_png(tmp_path / name, solid(v))
    save_png(tmp_path / "f11.png", np.full((8, 10), 40, np.uint8))  # grayscale
    (tmp_path / "notes.txt").write_text("ignored")
    r = VideoReader(tmp_path)
    assert (r.size, r.fps) == ((8, 10), 25.0)
    frames = list(r)
    assert [int(f[0, 0, 0]) for f in frames] == [10, 20, 30, 40]
    assert frames[-1].shape == (8, 10, 3) and r.frames_read == 4


def test_glob(tmp_path: Path) -> None:
    for name, v in [("a_10.jpg", 200), ("a_9.png", 100), ("b_1.png", 0)]:
        save_png(tmp_path / name, solid(v))
    vals = [int(f.mean()) for f in VideoReader(tmp_path / "a_*")]
    assert len(vals) == 2 and abs(vals[0] - 100) < 3 and abs(vals[1] - 200) < 3


def test_glob_sets_and_ranges_are_patterns(tmp_path: Path) -> None:
    for name, v in [("f1.png", 10), ("f2.png", 20), ("f3.png", 30), ("g1.png", 40)]:
        save_png(tmp_path / name, solid(v))
    assert [int(f[0, 0, 0]) for f in VideoReader(tmp_path / "f[13].png")] == [10, 30]
    assert [int(f[0, 0, 0]) for f in VideoReader(tmp_path / "[fg][2-9].png")] == [20, 30]
    with pytest.raises(VideoError, match="no image frames found matching the pattern"):
        VideoReader(tmp_path / "f[7-9].png")


def test_16_bit_frames_are_scaled_to_8_bits_by_rounding_v_over_257(tmp_path: Path) -> None:
    v = np.array([0, 128, 129, 257 * 100, 257 * 100 + 128, 257 * 100 + 129, 65534, 65535], np.uint16)
    rgb16 = np.stack([v, v[::-1], np.full_like(v, 257 * 7)], -1)[None]  # (1, 8, 3)
    assert cv2.imwrite(str(tmp_path / "0.png"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    assert cv2.imwrite(str(tmp_path / "1.png"), v[None])  # 16-bit grey
    colour, grey = list(VideoReader(tmp_path))
    expected = np.array([0, 0, 1, 100, 100, 101, 255, 255], np.uint8)
    assert colour.dtype == np.uint8 and np.array_equal(colour[0, :, 0], expected)
    assert np.array_equal(colour[0, :, 1], expected[::-1]) and (colour[..., 2] == 7).all()
    assert np.array_equal(grey[0], np.stack([expected] * 3, -1))


def test_size_change(tmp_path: Path) -> None:
    save_png(tmp_path / "0.png", solid(50))
    save_png(tmp_path / "1.png", solid(60, 16, 20))
    with pytest.raises(VideoError, match=r"frame 1 .*\(16, 20\).*\(8, 10\)"):
        list(VideoReader(tmp_path))


def test_unreadable_image_named(tmp_path: Path) -> None:
    save_png(tmp_path / "1.png", solid(1))
    (tmp_path / "2.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match="2.png"):
        list(VideoReader(tmp_path))


def test_an_empty_or_broken_image_frame_is_one_line_without_opencvs_text(tmp_path: Path) -> None:
    save_png(tmp_path / "1.png", solid(1))
    (tmp_path / "2.png").write_bytes(b"")
    with pytest.raises(VideoError) as e:
        list(VideoReader(tmp_path))
    assert str(e.value) == f"{tmp_path / '2.png'}: unreadable image frame (an empty file)"
    (tmp_path / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # a header and nothing of an image
    with pytest.raises(VideoError) as e:
        list(VideoReader(tmp_path))
    assert "\n" not in str(e.value) and "OpenCV" not in str(e.value) and "2.png: unreadable image frame" in str(e.value)


@pytest.mark.parametrize("kind", ["missing", "zero", "garbage", "empty_dir", "no_glob_match"])
def test_reader_errors(tmp_path: Path, kind: str) -> None:
    path = {"missing": tmp_path / "nope.mp4", "zero": tmp_path / "zero.mp4",
            "garbage": tmp_path / "junk.mp4", "empty_dir": tmp_path / "empty",
            "no_glob_match": tmp_path / "*.png"}[kind]
    if kind == "zero":
        path.touch()
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty_dir":
        path.mkdir()
    with pytest.raises(VideoError) as e:
        VideoReader(path)
    assert str(path) in str(e.value)
    if kind == "garbage":
        assert "decodes no frames" in str(e.value)


def cut(path: Path, fraction: float = 0.5) -> Path:
    """Keep the first `fraction` of the file's bytes, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def test_truncated_mp4v_cannot_open(tmp_path: Path) -> None:
    # OpenCV's mp4 muxer writes the moov index last, so half a file has no index to open.
    path = cut(write_mp4(tmp_path / "full.mp4", 30, codec="mp4v"))
    with pytest.raises(VideoError, match=r"full.mp4: .*cut before its index"):
        VideoReader(path)


def test_truncated_h264_yields_what_decodes_then_raises(tmp_path: Path) -> None:
    pytest.importorskip("av")
    path = tmp_path / "cut.mp4"
    with VideoWriter(path, 10, (H, W), codec="h264") as w:  # faststart: the index comes first
        for i in range(30):  # noise, so every frame takes a similar share of the bytes
            w.write(np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8))
    cut(path)
    r, got = VideoReader(path), []
    with pytest.raises(VideoTruncatedError, match=r"cut.mp4: truncated, \d+ frames decoded.*allow_truncated") as e:
        for _ in r:
            got.append(r.frames_read - 1)
    assert 0 < len(got) == r.frames_read < 30 and got == list(range(len(got)))
    assert f"truncated, {len(got)} frames decoded" in str(e.value)
    with pytest.warns(UserWarning, match="truncated"):
        assert count_frames(path, allow_truncated=True) == len(got)


@contextmanager
def stalling_server(data: bytes, sent: float):
    """An HTTP server sending the first `sent` of data, then nothing (the connection held open
    until the test ends); yields (url, released): released is set once the stall is over."""
    released = threading.Event()

    class Stall(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(data[: int(len(data) * sent)])
            self.wfile.flush()
            released.wait(30)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/clip", released
    finally:
        released.set()
        server.shutdown()
        server.server_close()


def mpegts(n: int) -> bytes:
    """n noise frames as an MPEG-TS H.264 stream (no declared duration, as a live stream)."""
    av = pytest.importorskip("av")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as c:
        s = c.add_stream("libx264", rate=10, options={"g": "5"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(n):
            img = np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode())
    return buf.getvalue()


def test_a_stream_that_stalls_times_out_and_warns_with_the_frames_received() -> None:
    with stalling_server(mpegts(30), 0.5) as (url, released):
        r = VideoReader(url, timeout_s=1.0)
        with pytest.warns(UserWarning, match=r"clip: the stream ended after (\d+) frames .*no frame for 1 s") as w:
            frames = list(r)
        assert not released.is_set()  # ended by the read timeout, not by the server
    assert 0 < len(frames) == r.frames_read < 30 and f"after {len(frames)} frames" in str(w[0].message)


def test_a_stream_with_a_declared_duration_that_stalls_is_truncated(tmp_path: Path) -> None:
    pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, 10, (H, W), codec="h264") as w:  # faststart: the index comes first
        for i in range(30):
            w.write(np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8))
    with stalling_server(path.read_bytes(), 0.5) as (url, _):
        with pytest.raises(VideoTruncatedError, match=r"clip: truncated, \d+ frames decoded"):
            list(VideoReader(url, timeout_s=1.0))
    with stalling_server(path.read_bytes(), 1.0) as (url, _), warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole file, then the stall: complete, no warning
        assert count_frames(url, timeout_s=1.0) == 30


def test_opens_but_decodes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("av")
    path = write_mp4(tmp_path / "blank.mp4", 10, codec="h264")
    data = bytearray(path.read_bytes())
    start = data.index(b"mdat") + 4  # the index (before it) survives; the coded frames are zeroed
    data[start:] = bytes(len(data) - start)
    path.write_bytes(bytes(data))
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    cap.release()
    with pytest.raises(VideoError, match="blank.mp4: decodes no frames"):
        VideoReader(path)


def test_frames_carry_index_and_timestamp(tmp_path: Path, codec: str) -> None:
    r = VideoReader(write_mp4(tmp_path / "t.mp4", 5, fps=10.0, codec=codec))
    seen = [(r.frames_read - 1, r.last_timestamp_s) for _ in r]
    assert [i for i, _ in seen] == list(range(5))
    assert [t for _, t in seen] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4], abs=1e-3)
    for i in range(3):
        save_png(tmp_path / f"{i}.png", solid(i))
    r = VideoReader(tmp_path / "*.png")
    assert [r.last_timestamp_s for _ in r] == [0.0, 0.04, 0.08]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts the process's threads in /proc (Linux)")
def test_one_thread_decoding_and_encoding_start_no_codec_threads(tmp_path: Path) -> None:
    """threads=1 (dff infer with the key network on a CPU of its own): FFmpeg's decoder and x264
    start no threads of their own, and the frames are those decoded with the defaults."""
    pytest.importorskip("av")

    def tasks() -> int:
        return len(os.listdir("/proc/self/task"))

    counts = {}
    for threads in (None, 1):
        before = tasks()
        with VideoWriter(tmp_path / f"{threads}.mp4", 10, (240, 320), codec="h264", threads=threads) as w:
            for i in range(3):
                w.write(gradient(i, 240, 320))
            during = tasks()
        reader = VideoReader(tmp_path / f"{threads}.mp4", threads=threads)
        frames = iter(reader)
        first = [next(frames)]
        counts[threads] = (during - before, tasks() - before)
        first += list(frames)
        assert len(first) == 3
    assert counts[1] == (0, 0)
    if os.cpu_count() >= 2:  # the defaults: a thread per core or more
        assert min(counts[None]) > 0, counts
    default = list(VideoReader(tmp_path / "1.mp4"))
    assert all(np.array_equal(a, b) for a, b in zip(default, VideoReader(tmp_path / "1.mp4", threads=1)))


@pytest.fixture(scope="module")
def real_counts() -> dict[str, tuple]:
    """Decode each real clip once per module: count, size, header claim, fps, last timestamp."""
    if not REAL.is_dir():
        pytest.skip(f"real test videos not found at {REAL}")
    out = {}
    for name in ("driving-960x540.mp4", "pedestrians-1280x720.avi"):
        r = VideoReader(REAL / name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a truncation warning would fail here
            for _ in r:
                pass
            last = r.last_timestamp_s
        out[name] = (r.frames_read, r.size, r.header_frames, r.fps, round(last, 3))
    return out


# The AVI's header claims 682 frames at 50 fps but stores 341 (every other 1/50 s tick): the
# decoded frames span the whole 13.64 s, so it is complete, not truncated, and plays at 25 fps.
@pytest.mark.parametrize("name,expected", [
    ("driving-960x540.mp4", (221, (540, 960), 221, 25.0, 8.8)),
    ("pedestrians-1280x720.avi", (341, (720, 1280), 682, 25.0, 13.64))])
def test_real_videos(real_counts: dict, name: str, expected: tuple) -> None:
    assert real_counts[name] == expected


@pytest.mark.parametrize("name", ["driving-960x540.mp4", "pedestrians-1280x720.avi"])
def test_real_videos_cut_in_half_are_truncated(tmp_path: Path, name: str) -> None:
    if not REAL.is_dir():
        pytest.skip(f"real test videos not found at {REAL}")
    data = (REAL / name).read_bytes()
    path = tmp_path / name  # a cut copy in the test's temp dir; the original is only read
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoTruncatedError, match=rf"{name}: truncated, \d+ frames decoded"):
        count_frames(path)

