"""Label images to class ids: read as stored (PIL, palette indices kept), map, validate.

Every dataset's label convention is a lookup table raw value -> class id (or ignore_index);
a raw value the table lacks is an error naming the file and the values found, so nothing is
silently wrapped or clipped.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

MAX_RAW = 1 << 16  # 16-bit labels are the widest accepted
_SINGLE = {"L": "8-bit", "P": "8-bit palette", "1": "1-bit", "I;16": "16-bit", "I;16B": "16-bit",
           "I;16L": "16-bit", "I": "32-bit"}


def read_label_image(path: str | Path) -> np.ndarray:
    """A single-channel label image as stored: palette images give indices, not colours.

    Raises ValueError naming the file for unreadable, RGB and alpha images.
    """
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode not in _SINGLE:
                bands = len(img.getbands())
                what = f"{bands} channels: RGB or alpha" if bands > 1 else "not integer class ids"
                raise ValueError(f"{path}: label image has mode {mode} ({what}); expected one "
                                 "channel of class ids (8/16-bit grey or palette indices)")
            arr = np.array(img.convert("L") if mode == "1" else img)
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{path}: unreadable label image ({e})") from e
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel label, got shape {arr.shape}")
    return arr


def identity_map(num_classes: int, ignore_index: int = 255) -> dict[int, int]:
    """Raw ids 0..num_classes-1 are the classes; ignore_index stays ignored."""
    return {**{i: i for i in range(num_classes)}, ignore_index: ignore_index}


def build_lut(mapping: dict[int, int], num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Lookup table raw -> class id (-1 where the raw value is not allowed), checked.

    Args:
        mapping: raw label value -> class id in [0, num_classes) or ignore_index.
        num_classes: number of classes.
        ignore_index: class id of ignored pixels (0..255: labels are stored as uint8).
    """
    if not 0 <= ignore_index <= 255:
        raise ValueError(f"ignore_index must be in [0, 255] (labels are uint8), got {ignore_index}")
    lut = np.full(MAX_RAW, -1, np.int32)
    for raw, cls in mapping.items():
        raw, cls = int(raw), int(cls)
        if not 0 <= raw < MAX_RAW:
            raise ValueError(f"label map: raw value {raw} outside [0, {MAX_RAW})")
        if not (0 <= cls < num_classes or cls == ignore_index):
            raise ValueError(f"label map: {raw} -> {cls}, outside [0, {num_classes}) and not "
                             f"ignore_index {ignore_index}")
        lut[raw] = cls
    return lut


def allowed_values(lut: np.ndarray) -> str:
    """Short description of a LUT's accepted raw values, e.g. '[0, 1, 2, 255]'."""
    vals = np.flatnonzero(lut >= 0).tolist()
    return str(vals) if len(vals) <= 12 else f"[{', '.join(map(str, vals[:12]))}, ...]"


def map_raw(raw: np.ndarray, lut: np.ndarray, path: str | Path) -> np.ndarray:
    """Raw label array to uint8 class ids; raw values the LUT lacks raise naming path."""
    vals = np.unique(raw)
    bad = vals[(vals < 0) | (vals >= MAX_RAW)]
    if not bad.size:
        bad = vals[lut[vals] < 0]
    if bad.size:
        depth = f"{raw.dtype.itemsize * 8}-bit " if raw.dtype.itemsize > 1 else ""
        raise ValueError(f"{path}: {depth}label values {bad.tolist()[:8]} not allowed "
                         f"(found {vals.tolist()[:16]}; allowed raw values {allowed_values(lut)})")
    return lut[raw].astype(np.uint8)


def read_mapped(path: str | Path, lut: np.ndarray) -> np.ndarray:
    """Read a label image and map it through lut (the FrameStore label reader)."""
    return map_raw(read_label_image(path), lut, path)


def lut_reader(lut: np.ndarray) -> Callable[[Path], np.ndarray]:
    """A picklable path -> class-id reader for a LUT."""
    return partial(read_mapped, lut=lut)
