"""A dataset split as clips: frame paths (or one video file), label paths and the range of frames
in the split; and the helpers every layout (layouts.py) builds its clips with.

Neighbours are found by frame number (the last run of digits in a file name), never by list
position: a missing frame ends a clip instead of silently joining two distant frames.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SPLIT_MODES = ("temporal", "sequences")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_NUMBER = re.compile(r"(\d+)$")


@dataclass
class Clip:
    """One sequence's frames; frames start..end-1 belong to the split (keys must too).

    video: a video file whose decoded frames, in order, are the clip's (frames is then empty;
    labels still holds one None per frame). labelled False: footage without labels, where every
    frame of the split is a training target (PairDataset gives it an all-ignore label).
    """

    name: str
    frames: list[Path]
    labels: list[Path | None]
    start: int
    end: int
    video: Path | None = None
    labelled: bool = True


def sorted_files(folder: Path, suffix: str) -> list[Path]:
    """Files of a folder with a suffix, in name order; error if none."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == suffix) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{folder}: no {suffix} files found")
    return files


def temporal_range(n: int, split: str, train_fraction: float) -> tuple[int, int]:
    """First train_fraction of a sequence trains, the rest validates."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    cut = int(round(n * train_fraction))
    return (0, cut) if split == "train" else (cut, n)


def frame_number(path: Path) -> int:
    """The trailing number of a file's stem ('Seq05VD_f00030' -> 30); error if none."""
    m = _NUMBER.search(path.stem)
    if m is None:
        raise ValueError(f"{path}: no frame number at the end of the file name")
    return int(m.group(1))


def index_by_number(folder: Path, suffixes=IMAGE_SUFFIXES) -> dict[int, Path]:
    """Image files of a folder by frame number; error on a missing folder or a repeated number."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: frame folder not found")
    out: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in suffixes:
            n = frame_number(p)
            if n in out:
                raise ValueError(f"{p}: frame number {n} repeats {out[n].name}")
            out[n] = p
    return out


def window(frames: dict[int, Path], n: int, context: int, label: Path) -> Clip:
    """Clip of frames n-context..n (fewer if one is missing) with label on frame n."""
    if n not in frames:
        raise FileNotFoundError(f"{label}: no video frame numbered {n} for this label")
    first = n
    while n - first < context and first - 1 in frames:
        first -= 1
    paths = [frames[i] for i in range(first, n + 1)]
    return Clip(f"{label.stem}", paths, [None] * (len(paths) - 1) + [label], 0, len(paths))
