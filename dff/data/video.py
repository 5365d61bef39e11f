"""Streaming video input: files, frame folders, globs or webcams (the writer is in video_writer)."""

from __future__ import annotations

import glob
import math
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

# FFmpeg inside OpenCV prints its decoder errors ("header damaged", ...) to stderr by default; a bad
# video gets dff's one line instead. Read when OpenCV first starts FFmpeg (a capture, or the mp4v
# writer, whose module imports this one). Set OPENCV_FFMPEG_LOGLEVEL (e.g. 16) to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_FPS = 25.0
# Decoding may stop this short of the declared duration (last-frame timestamp quirks, an
# audio track a little longer than the video) before a file counts as truncated.
TRUNCATION_SLACK_S = 0.5
FPS_PROBE_FRAMES = 9  # frames whose timestamps set a file's frame rate
STREAM_TIMEOUT_S = 10.0  # a stream URL that sends nothing this long (opening, or between frames) has ended


class VideoError(ValueError):
    """A video source or output that cannot be read, decoded or verified."""


class VideoTruncatedError(VideoError):
    """A video file whose decoding stopped before the end its container declares."""


def natural_key(s: str) -> list[int | str]:
    """Sort key that orders embedded numbers numerically ("frame2" < "frame10")."""
    # re.split with a capture group alternates str/int, so keys always compare like-with-like.
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _is_image(p: Path) -> bool:
    """True for a regular file with one of IMAGE_EXTS (case-insensitive)."""
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image file as RGB uint8 (H, W, 3); grayscale and alpha are normalised, and 16-bit
    images are scaled to 8 bits by round(v / 257): 0 -> 0, 65535 -> 255, and an 8-bit value x
    stored as x * 257 (how 8-bit images are widened) comes back as x."""
    try:  # imdecode(fromfile) also copes with non-ASCII paths, unlike cv2.imread on Windows
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise VideoError(f"{path}: unreadable image frame ({e.strerror or e})") from e
    if data.size == 0:  # OpenCV would answer with its assertion text
        raise VideoError(f"{path}: unreadable image frame (an empty file)")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    except cv2.error as e:  # OpenCV's text is a multi-line assertion: its last words only
        raise VideoError(f"{path}: unreadable image frame ({str(e).strip().splitlines()[-1].strip()})") from e
    if img is None:
        raise VideoError(f"{path}: unreadable image frame")
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise VideoError(f"{path}: image frame of {img.dtype} pixels; expected 8- or 16-bit integers")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@contextmanager
def _opencv_silent():
    """OpenCV's own log lines off (dff says what went wrong in one line)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


class VideoReader:
    """Stream RGB uint8 frames of a video file, image folder, glob pattern, webcam index or stream
    URL (rtsp://, http://, ...: OpenCV's FFmpeg opens it).

    Iterating yields RGB uint8 (H, W, 3) frames of one size, counted in frames_read, each one's
    presentation time in last_timestamp_s (the stream's time for files and webcams, index / fps
    for image sequences). A file whose decoding stops short of the duration its container
    declares is truncated: what decodes is yielded, then VideoTruncatedError says how many frames
    came out (with allow_truncated, a warning says so instead). Frame counts come from decoding,
    never from the header. A stream URL that sends nothing for timeout_s ends there; when it
    ends, a warning says after how many frames (unless its container declared a duration: then
    it is checked as a file is). threads: FFmpeg's decoding threads for files and stream URLs
    (None: OpenCV's default, one per core); the frames are the same with any number.
    """

    def __init__(self, source: str | os.PathLike | int, allow_truncated: bool = False,
                 threads: int | None = None, timeout_s: float = STREAM_TIMEOUT_S) -> None:
        self.allow_truncated, self.threads, self.timeout_s = allow_truncated, threads, timeout_s
        self._target: str | int = source if isinstance(source, int) else os.fspath(source)
        self.source = str(self._target)
        self._name = f"webcam {source}" if isinstance(source, int) else self.source
        # webcams and stream URLs (rtsp://, http://): read as they come, no container to check
        self.url = not isinstance(source, int) and "://" in self.source
        self.live = isinstance(source, int) or self.url
        self._files = self._resolve()
        self.frames_read, self.last_timestamp_s = 0, None
        self.fps = DEFAULT_FPS  # rate of the decoded frames (what a writer should use)
        self.header_fps = DEFAULT_FPS  # the container's rate: the unit of header_frames
        self.header_frames: int | None = None  # the container's claim, a hint only
        # Size comes from a decoded frame: container headers can disagree with the stream.
        first = self._probe()
        self.size: tuple[int, int] = (first.shape[0], first.shape[1])

    def _resolve(self) -> list[Path] | None:
        """Image files to read in order, or None when the source is a capture (file/webcam/URL)."""
        if self.live:
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
        if any(c in self.source for c in "*?["):  # glob wildcards, [...] sets included
            files = sorted((Path(p) for p in glob.glob(self.source) if _is_image(Path(p))),
                           key=lambda p: natural_key(str(p)))
            if not files:
                raise VideoError(f"{self._name}: no image frames found matching the pattern")
            return files
        raise VideoError(f"{self._name}: no such file or directory")

    def _open(self) -> cv2.VideoCapture:
        """Open a cv2 capture for a file or webcam, raising VideoError if OpenCV refuses it."""
        with _opencv_silent():  # its own "[ERROR] ..." lines
            params = [] if self.threads is None else [cv2.CAP_PROP_N_THREADS, self.threads]
            if self.url:  # FFmpeg would wait 30 s for a stalled server, the end then unnoticed
                ms = max(1, round(self.timeout_s * 1000))
                params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            if not params or isinstance(self._target, int):
                cap = cv2.VideoCapture(self._target)
            else:
                cap = cv2.VideoCapture(self._target, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"{self._name}: OpenCV cannot open it (not a video, or cut before its "
                             "index); decodes no frames")
        return cap

    def _probe(self) -> np.ndarray:
        """Decode the first frame (and fps, header frame count for captures), then close."""
        if self._files is not None:
            return read_image(self._files[0])
        cap, times = self._open(), []
        try:
            fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
            ok, frame = cap.read()
            # A file's first frames' timestamps give its real rate (webcams just stream).
            while ok and not self.live and len(times) < FPS_PROBE_FRAMES:
                times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                ok = cap.grab()
        finally:
            cap.release()
        if frame is None:
            raise VideoError(f"{self._name}: decodes no frames")
        self.fps = self.header_fps = float(fps) if math.isfinite(fps) and fps > 0 else DEFAULT_FPS
        if not isinstance(self._target, int) and math.isfinite(count) and count > 0:  # files, URLs
            self.header_frames = int(count)
        step = float(np.median(np.diff(times))) if len(times) > 2 else 0.0
        if step > 0 and abs(step * self.fps - 1) > 0.01:  # e.g. 25 fps stored on a 50 fps clock
            self.fps = round(1.0 / step, 3)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def _raw_frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yield (timestamp_s, RGB frame) in stream order, re-opening the source each call."""
        if self._files is not None:
            for i, path in enumerate(self._files):
                yield i / self.fps, read_image(path)
            return
        cap, last = self._open(), -math.inf
        try:
            while True:
                with _opencv_silent():  # a stream's timeout is OpenCV's "[ WARN ]" line; dff's warning says it
                    ok, frame = cap.read()
                if not ok or frame is None:
                    break
                t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                # Some streams report 0 for the final frame; time never runs backwards.
                last = t if math.isfinite(t) and t > last else max(last, 0.0) + 1.0 / self.fps
                yield last, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
        self._check_complete(last)

    def _check_complete(self, last_s: float) -> None:
        """Raise, or warn when allow_truncated, when decoding stopped before the declared end; a
        stream URL without a declared duration: warn that it ended."""
        if self.header_frames is None:
            if self.url:
                warnings.warn(f"{self._name}: the stream ended after {self.frames_read} frames (the server "
                              f"closed it, or sent no frame for {self.timeout_s:g} s)")
            return
        declared, covered = self.header_frames / self.header_fps, last_s + 1.0 / self.fps
        # Time, not frame counts: a header's count may tick at a finer rate than the frames
        # actually stored (the pedestrians AVI claims 682 at 50 fps, stores 341 spanning 13.6 s).
        if declared - covered <= max(TRUNCATION_SLACK_S, 0.01 * declared, 2.0 / self.fps):
            return
        msg = (f"{self._name}: truncated, {self.frames_read} frames decoded; decoding stopped at "
               f"{covered:.2f} s of the {declared:.2f} s its container declares")
        if not self.allow_truncated:
            raise VideoTruncatedError(f"{msg} (allow_truncated=True or --allow-truncated keeps them)")
        warnings.warn(msg)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield the RGB frames, counting them in frames_read."""
        self.frames_read = 0
        for t, frame in self._raw_frames():
            if frame.shape[:2] != self.size:
                raise VideoError(f"{self._name}: frame {self.frames_read} has size "
                                 f"{frame.shape[:2]}, expected {self.size} (first frame)")
            self.frames_read, self.last_timestamp_s = self.frames_read + 1, t
            yield frame

    def __repr__(self) -> str:
        return f"VideoReader({self.source!r}, size={self.size}, fps={self.fps})"
