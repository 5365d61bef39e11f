"""Middlebury ``.flo`` optical-flow files.

Layout (little-endian): float32 magic 202021.25, int32 width, int32 height, then
``height * width`` interleaved ``(u, v)`` float32 pairs in row-major order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FLO_MAGIC = 202021.25
_HEADER_BYTES = 12


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Write an (H, W, 2) flow field (channel 0 = x) to a .flo file."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a .flo file into a float32 (H, W, 2) array; ValueError if it is malformed."""
    data = Path(path).read_bytes()
    if len(data) < _HEADER_BYTES:
        raise ValueError(f"{path}: truncated .flo file ({len(data)} bytes, header needs {_HEADER_BYTES})")
    magic = float(np.frombuffer(data, "<f4", count=1)[0])
    if magic != FLO_MAGIC:
        raise ValueError(f"{path}: bad .flo magic number {magic!r} (expected {FLO_MAGIC})")
    width, height = (int(v) for v in np.frombuffer(data, "<i4", count=2, offset=4))
    if width < 0 or height < 0:
        raise ValueError(f"{path}: invalid .flo size {width}x{height}")
    expected = _HEADER_BYTES + width * height * 2 * 4
    if len(data) != expected:
        raise ValueError(
            f"{path}: .flo size mismatch: header says {width}x{height} ({expected} bytes), file has {len(data)} bytes"
        )
    flow = np.frombuffer(data, "<f4", offset=_HEADER_BYTES).reshape(height, width, 2)
    # Copy to native byte order so callers get an ordinary writable array.
    return flow.astype(np.float32)
