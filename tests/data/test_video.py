"""Tests for dff.data.video: readers over files/folders/globs, atomic mp4 writer, real clips."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from dff.data.video import VideoError, VideoReader, VideoWriter, count_frames, natural_key

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"
H, W = 48, 64


def gradient(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Smooth moving RGB gradient, frame i (smooth so lossy mp4v stays close)."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // (w - 1) + 4 * i) % 256
    g = y * 255 // (h - 1)
    b = np.full_like(x, (10 * i) % 256)
    return np.stack([r, g, b], -1).astype(np.uint8)


def write_mp4(path: Path, n: int, fps: float = 10.0) -> Path:
    """Write n gradient frames to path via VideoWriter."""
    with VideoWriter(path, fps, (H, W)) as w:
        for i in range(n):
            w.write(gradient(i))
    return path


def save_png(path: Path, img: np.ndarray) -> None:
    """Save an RGB (or grayscale) image for folder-reader tests."""
    assert cv2.imwrite(str(path), img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def solid(v: int, h: int = 8, w: int = 10) -> np.ndarray:
    """A constant RGB frame, so folder order can be checked by content."""
    return np.full((h, w, 3), v, np.uint8)


def test_natural_key() -> None:
    assert sorted(["frame10", "frame2", "Frame1"], key=natural_key) == ["Frame1", "frame2", "frame10"]


def test_mp4_roundtrip(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "sub" / "clip.mp4", 12)
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


def test_size_change(tmp_path: Path) -> None:
    save_png(tmp_path / "0.png", solid(50))
    save_png(tmp_path / "1.png", solid(60, 16, 20))
    with pytest.raises(VideoError, match=r"frame 1 .*\(16, 20\).*\(8, 10\)"):
        list(VideoReader(tmp_path))
    frames = list(VideoReader(tmp_path, on_size_change="resize"))
    assert [f.shape for f in frames] == [(8, 10, 3)] * 2 and int(frames[1].mean()) == 60


def test_unreadable_image_named(tmp_path: Path) -> None:
    save_png(tmp_path / "1.png", solid(1))
    (tmp_path / "2.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match="2.png"):
        list(VideoReader(tmp_path))


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


def test_truncated_mp4(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "full.mp4", 30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # OpenCV's mp4 muxer puts the moov index at the end, so today half a file cannot be
    # opened at all and raises; a partial decode is also acceptable, a full count never is.
    try:
        r = VideoReader(path)
    except VideoError as e:
        assert "decodes no frames" in str(e)
        return
    n = sum(1 for _ in r)
    assert n == r.frames_read < 30


def test_writer_refuses_overwrite(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "out.mp4", 3)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        VideoWriter(path, 10, (H, W))
    assert path.read_bytes() == before
    with VideoWriter(path, 10, (H, W), overwrite=True) as w:
        for i in range(5):
            w.write(gradient(i))
    assert count_frames(path) == w.frames_written == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_writer_bad_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", 10, (47, 64))
    w = VideoWriter(tmp_path / "x.mp4", 10, (H, W))
    with pytest.raises(ValueError, match=r"\(48, 32, 3\).*\(48, 64, 3\)"):
        w.write(np.zeros((H, W // 2, 3), np.uint8))
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_writer_exception_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 10, (H, W)) as w:
            w.write(gradient(0))
            assert any(p.name.startswith(".crash.mp4.tmp-") for p in tmp_path.iterdir())
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_exception_keeps_existing(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "keep.mp4", 4)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 10, (H, W), overwrite=True) as w:
            w.write(gradient(0))
            raise RuntimeError("boom")
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


@pytest.fixture(scope="module")
def real_counts() -> dict[str, tuple[int, tuple[int, int]]]:
    """Decode-count each real clip once per module."""
    if not REAL.is_dir():
        pytest.skip(f"real test videos not found at {REAL}")
    out = {}
    for name in ("driving-960x540.mp4", "pedestrians-1280x720.avi"):
        r = VideoReader(REAL / name)
        out[name] = (sum(1 for _ in r), r.size)
        assert r.frames_read == out[name][0]
    return out


@pytest.mark.parametrize("name,n,size", [("driving-960x540.mp4", 221, (540, 960)),
                                         ("pedestrians-1280x720.avi", 341, (720, 1280))])
def test_real_videos(real_counts: dict, name: str, n: int, size: tuple[int, int]) -> None:
    assert real_counts[name] == (n, size)
