"""Video helpers shared by the reader and writer tests: a smooth moving gradient, an mp4 of it."""
from pathlib import Path

import numpy as np

from dff.data.video import VideoReader
from dff.io.video_writer import VideoWriter

H, W = 48, 64


def gradient(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Smooth moving RGB gradient, frame i (smooth so lossy mp4v stays close)."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // (w - 1) + 4 * i) % 256
    g = y * 255 // (h - 1)
    b = np.full_like(x, (10 * i) % 256)
    return np.stack([r, g, b], -1).astype(np.uint8)


def write_mp4(path: Path, n: int, fps: float = 10.0, codec: str | None = None, preset: str | None = None) -> Path:
    """Write n gradient frames to path via VideoWriter."""
    with VideoWriter(path, fps, (H, W), codec=codec, preset=preset) as w:
        for i in range(n):
            w.write(gradient(i))
    return path


def count_frames(path, **kwargs) -> int:
    """Frames a VideoReader decodes from path."""
    reader = VideoReader(path, **kwargs)
    for _ in reader:
        pass
    return reader.frames_read
