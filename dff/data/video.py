"""Streaming video I/O: read files, frame folders, globs or webcams; write mp4 atomically."""

from __future__ import annotations

import glob
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_FPS = 25.0


class VideoError(ValueError):
    """A video source or output that cannot be read, decoded or verified."""


def natural_key(s: str) -> list[int | str]:
    """Sort key that orders embedded numbers numerically ("frame2" < "frame10")."""
    # re.split with a capture group alternates str/int, so keys always compare like-with-like.
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _is_image(p: Path) -> bool:
    """True for a regular file with one of IMAGE_EXTS (case-insensitive)."""
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS


def _read_image(path: Path) -> np.ndarray:
    """Read one image file as RGB uint8 (H, W, 3); grayscale and alpha are normalised."""
    try:  # imdecode(fromfile) also copes with non-ASCII paths, unlike cv2.imread on Windows
        img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    except (OSError, cv2.error) as e:
        raise VideoError(f"{path}: unreadable image frame ({e})") from e
    if img is None:
        raise VideoError(f"{path}: unreadable image frame")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class VideoReader:
    """Iterate RGB uint8 frames of a video file, image folder, glob pattern or webcam index."""

    def __init__(self, source: str | os.PathLike | int, on_size_change: str = "raise") -> None:
        if on_size_change not in ("raise", "resize"):
            raise ValueError(f"on_size_change must be 'raise' or 'resize', got {on_size_change!r}")
        self.on_size_change = on_size_change
        self._target: str | int = source if isinstance(source, int) else os.fspath(source)
        self.source = str(self._target)
        self._name = f"webcam {source}" if isinstance(source, int) else self.source
        self._files = self._resolve()
        self.frames_read = 0
        self.fps = DEFAULT_FPS
        # Size comes from a decoded frame: container headers can disagree with the stream.
        first = self._probe()
        self.size: tuple[int, int] = (first.shape[0], first.shape[1])

    def _resolve(self) -> list[Path] | None:
        """Image files to read in order, or None when the source is a capture (file/webcam)."""
        if isinstance(self._target, int):
            return None
        path = Path(self._target)
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if _is_image(p)), key=lambda p: natural_key(p.name))
            if not files:
                raise VideoError(f"{self._name}: no image frames found ({', '.join(IMAGE_EXTS)})")
            return files
        if path.exists():
            if path.stat().st_size == 0:
                raise VideoError(f"{self._name}: file is empty (0 bytes)")
            return None
        if any(c in self.source for c in "*?"):
            files = sorted((Path(p) for p in glob.glob(self.source) if _is_image(Path(p))),
                           key=lambda p: natural_key(str(p)))
            if not files:
                raise VideoError(f"{self._name}: no image frames found matching the pattern")
            return files
        raise VideoError(f"{self._name}: no such file or directory")

    def _open(self) -> cv2.VideoCapture:
        """Open a cv2 capture for a file or webcam, raising VideoError if OpenCV refuses it."""
        cap = cv2.VideoCapture(self._target)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"{self._name}: OpenCV cannot open it; decodes no frames")
        return cap

    def _probe(self) -> np.ndarray:
        """Decode the first frame (and fps for captures) without keeping the source open."""
        if self._files is not None:
            return _read_image(self._files[0])
        cap = self._open()
        try:
            fps = cap.get(cv2.CAP_PROP_FPS)
            ok, frame = cap.read()
        finally:
            cap.release()
        if not ok or frame is None:
            raise VideoError(f"{self._name}: decodes no frames")
        self.fps = float(fps) if math.isfinite(fps) and fps > 0 else DEFAULT_FPS
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def _raw_frames(self) -> Iterator[np.ndarray]:
        """Yield RGB frames in stream order, one at a time, re-opening the source each call."""
        if self._files is not None:
            for path in self._files:
                yield _read_image(path)
            return
        cap = self._open()
        try:
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield frames of self.size, counting them in frames_read."""
        self.frames_read = 0
        h, w = self.size
        for frame in self._raw_frames():
            if frame.shape[:2] != (h, w):
                if self.on_size_change != "resize":
                    raise VideoError(f"{self._name}: frame {self.frames_read} has size "
                                     f"{frame.shape[:2]}, expected {self.size} (first frame)")
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
            self.frames_read += 1
            yield frame

    def __repr__(self) -> str:
        return f"VideoReader({self.source!r}, size={self.size}, fps={self.fps})"


class VideoWriter:
    """Write RGB frames to an mp4 (mp4v) via a temp file that replaces `path` only once verified."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        self.fps, self.size, self.overwrite = float(fps), (int(size[0]), int(size[1])), overwrite
        if not (math.isfinite(self.fps) and self.fps > 0) or min(self.size) <= 0:
            raise ValueError(f"{self.path}: need fps > 0 and positive (H, W), got {fps}, {size}")
        if self.size[0] % 2 or self.size[1] % 2:  # mp4v silently crops odd sizes to even
            raise ValueError(f"{self.path}: mp4v needs an even height and width, got {self.size}")
        self._check_target()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory so os.replace is an atomic rename; suffix tells cv2 the container.
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent,
                                   suffix=self.path.suffix or ".mp4")
        os.close(fd)
        self._tmp = Path(tmp)
        h, w = self.size
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
            tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        self.frames_written = 0
        if not self._writer.isOpened():
            self.abort()
            raise VideoError(f"{self.path}: OpenCV cannot open an mp4v writer")

    def _check_target(self) -> None:
        """Refuse to clobber an existing file unless overwrite was requested."""
        if self.path.exists() and not self.overwrite:
            raise FileExistsError(f"{self.path}: already exists; pass overwrite=True to replace it")

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame of shape (H, W, 3) matching self.size."""
        if self._writer is None:
            raise ValueError(f"{self.path}: writer is closed")
        if frame_rgb.shape != (*self.size, 3) or frame_rgb.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame has shape {frame_rgb.shape} dtype {frame_rgb.dtype},"
                             f" expected {(*self.size, 3)} uint8")
        self._writer.write(cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def abort(self) -> None:
        """Release the encoder and delete the temp file, leaving `path` untouched."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._tmp.unlink(missing_ok=True)

    def _verify(self) -> None:
        """Decode the temp file back; raise VideoError unless frame count and size match."""
        if self.frames_written == 0:
            raise VideoError(f"{self.path}: no frames were written")
        try:
            reader = VideoReader(self._tmp)
            for _ in reader:
                pass
            n, size = reader.frames_read, reader.size
        except VideoError as e:
            raise VideoError(f"{self.path}: written video fails to decode ({e})") from e
        if n != self.frames_written or size != self.size:
            raise VideoError(f"{self.path}: wrote {self.frames_written} frames of {self.size} but "
                             f"decoded {n} frames of {size}")

    def close(self) -> None:
        """Finish encoding, verify the result and move it onto `path` (idempotent)."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        try:
            self._verify()
            self._check_target()  # the path may have appeared while we were writing
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def count_frames(path: str | os.PathLike) -> int:
    """Count frames by decoding them all (container frame counts are unreliable)."""
    reader = VideoReader(path)
    for _ in reader:
        pass
    return reader.frames_read
