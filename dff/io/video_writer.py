"""Atomic video writer: browser-playable H.264 via PyAV, or mp4v via OpenCV.

Frames go to a temp file beside the target; on close the file is decoded back and must give
the frame count and size written before os.replace moves it onto the target.
"""

from __future__ import annotations

import math
import os
import shutil
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..data.video import VideoError, VideoReader
from .outputs import naming, remove_stale_temps
from .publish import Publication

CODECS = ("h264", "mp4v")
# x264's speed / size trade-off, fastest first; ultrafast by default: at 960 x 540 it costs a
# quarter of veryfast's CPU (which slowed `dff infer` by a quarter on 2 cores) for ~2.3x the bytes
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")  # containers that hold both codecs
_FASTSTART = (".mp4", ".mov", ".m4v")  # muxers that can put the index first (stream while loading)


def default_codec() -> str:
    """'h264' when PyAV is importable (pip install 'dff[video]'), else OpenCV's 'mp4v'."""
    try:
        import av  # noqa: F401
    except ImportError:
        return "mp4v"
    return "h264"


class _Mp4v:
    """OpenCV's MPEG-4 Part 2 encoder: always available, but browsers do not play it."""

    def __init__(self, tmp: Path, fps: float, size: tuple[int, int]) -> None:
        h, w = size
        self._w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not self._w.isOpened():
            self._w.release()
            raise VideoError(f"{tmp}: OpenCV cannot open an mp4v writer")

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame."""
        self._w.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Flush and close the file."""
        self._w.release()


class _H264:
    """libx264 (yuv420p) through PyAV: plays in browsers."""

    def __init__(self, tmp: Path, fps: float, size: tuple[int, int], preset: str, threads: int | None = None) -> None:
        try:
            import av
        except ImportError as e:
            raise VideoError(f"{tmp}: codec 'h264' needs PyAV: pip install 'dff[video]' "
                             "(or choose codec 'mp4v')") from e
        self._av = av
        opts = {"movflags": "+faststart"} if tmp.suffix.lower() in _FASTSTART else {}
        try:
            self._c = av.open(str(tmp), "w", options=opts)
            x264 = "libx264" in av.codecs_available
            self._s = self._c.add_stream("libx264" if x264 else "h264",
                                         rate=Fraction(fps).limit_denominator(1001),
                                         options={"preset": preset} if x264 else None)
        except (av.FFmpegError, ValueError) as e:
            raise VideoError(f"{tmp}: PyAV cannot open an H.264 writer ({e})") from e
        self._s.height, self._s.width = size
        self._s.pix_fmt = "yuv420p"
        if threads is not None:
            self._s.codec_context.thread_count = threads
        self._n = 0

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame with the next pts (in 1/fps units)."""
        # OpenCV's RGB -> I420 (BT.601, video range, as swscale's) at a quarter of swscale's CPU
        frame = self._av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        frame.pts, self._n = self._n, self._n + 1
        self._c.mux(self._s.encode(frame))

    def close(self) -> None:
        """Flush the encoder's delayed frames and write the container trailer."""
        try:
            self._c.mux(self._s.encode(None))
        finally:
            self._c.close()


class CommitOnExit:
    """Context manager of an atomic writer: close() (verify, publish) on success, abort() on error."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoWriter(CommitOnExit):
    """Write RGB uint8 frames to a video via a temp file that replaces `path` only once verified.

    codec: 'h264' (PyAV, browser-playable) or 'mp4v' (OpenCV); None takes default_codec().
    preset: h264's x264 preset (X264_PRESETS; None: ultrafast, the fastest, largest files).
    Both need an even height and width (yuv420p / mp4v): an odd size (853 x 480 phone video) is
    written padded by one repeated row or column (`coded_size`, what the read-back check and
    later readers decode; the frame is its top-left H x W). An existing `path` is replaced only
    with overwrite=True. threads: h264's encoding threads (None: x264's default, 1.5 per core).
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 overwrite: bool = False, codec: str | None = None, preset: str | None = None,
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.fps, self.size, self.overwrite = float(fps), (int(size[0]), int(size[1])), overwrite
        self.codec = codec or default_codec()
        if self.codec not in CODECS:
            raise ValueError(f"{self.path}: codec must be one of {CODECS}, got {codec!r}")
        if preset is not None and (self.codec != "h264" or preset not in X264_PRESETS):
            raise ValueError(f"{self.path}: preset {preset!r} is not an x264 preset for codec h264 (codec "
                             f"{self.codec}); valid: {', '.join(X264_PRESETS)}")
        if not (math.isfinite(self.fps) and self.fps > 0) or min(self.size) <= 0:
            raise ValueError(f"{self.path}: need fps > 0 and positive (H, W), got {fps}, {size}")
        # mp4v silently crops odd sizes and yuv420p cannot hold them: pad the last row / column
        self.coded_size = (self.size[0] + self.size[0] % 2, self.size[1] + self.size[1] % 2)
        self._check_target()
        remove_stale_temps(self.path.parent, self.path.name)  # a killed earlier write's
        # the temp's suffix picks the container; the encoder creates the file
        self._out = Publication(self.path, suffix=self.path.suffix or ".mp4", verify=self._verify)
        self._tmp = self._out.tmp
        self.frames_written = 0
        self._enc: _H264 | _Mp4v | None = None
        try:
            self._enc = (_H264(self._tmp, self.fps, self.coded_size, preset or X264_PRESETS[0], threads)
                         if self.codec == "h264"
                         else _Mp4v(self._tmp, self.fps, self.coded_size))
        except BaseException:
            self.abort()
            raise

    def _check_target(self) -> None:
        """Refuse to clobber an existing file unless overwrite was requested."""
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path}: is a folder; give a video file path (.mp4)")
        if self.path.suffix and self.path.suffix.lower() not in VIDEO_SUFFIXES:  # an image, say: no container
            raise ValueError(f"{self.path}: {self.path.suffix} is not a video file name; give one of "
                             f"{', '.join(VIDEO_SUFFIXES)}")
        if self.path.exists() and not self.overwrite:
            raise FileExistsError(f"{self.path}: already exists; pass --overwrite to replace it")

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame of shape (H, W, 3) matching self.size."""
        if self._enc is None:
            raise ValueError(f"{self.path}: writer is closed")
        if frame_rgb.shape != (*self.size, 3) or frame_rgb.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame has shape {frame_rgb.shape} dtype {frame_rgb.dtype},"
                             f" expected {(*self.size, 3)} uint8")
        if self.coded_size != self.size:
            pad = ((0, self.coded_size[0] - self.size[0]), (0, self.coded_size[1] - self.size[1]), (0, 0))
            frame_rgb = np.pad(frame_rgb, pad, mode="edge")
        with naming(self.path):
            self._enc.write(np.ascontiguousarray(frame_rgb))
        self.frames_written += 1

    def abort(self) -> None:
        """Release the encoder and delete the temp file, leaving `path` untouched."""
        enc, self._enc = self._enc, None
        try:
            if enc is not None:
                enc.close()
        except Exception:  # the output is being thrown away; its encoder's complaints with it
            pass
        finally:
            self._out.abort()

    def _verify(self, tmp: Path) -> None:
        """Decode the temp file back; raise VideoError unless frame count and size match; the
        target is still one that may be replaced (it may have appeared while we were writing)."""
        if self.frames_written == 0:
            raise VideoError(f"{self.path}: no frames were written")
        try:
            reader = VideoReader(tmp)
            for _ in reader:
                pass
            n, size = reader.frames_read, reader.size
        except VideoError as e:  # OpenCV's writer drops write errors: a full disk shows only here
            free = shutil.disk_usage(tmp.parent).free / 2**20
            raise VideoError(f"{self.path}: written video fails to decode ({e}); {free:.0f} MB free on its "
                             "disk") from e
        if n != self.frames_written or size != self.coded_size:
            raise VideoError(f"{self.path}: wrote {self.frames_written} frames of {self.coded_size} but "
                             f"decoded {n} frames of {size}")
        self._check_target()

    def close(self) -> None:
        """Finish encoding, verify the result and move it onto `path` (idempotent)."""
        if self._enc is None:
            return
        try:
            enc, self._enc = self._enc, None
            with naming(self.path):
                enc.close()
            self._out.commit()
        except BaseException:
            self.abort()
            raise
