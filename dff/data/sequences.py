"""Video datasets as lists of clips: frame paths, label paths and the split's frame range."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPLIT_MODES = ("temporal", "sequences")


@dataclass
class Clip:
    """One sequence's frames; frames start..end-1 belong to the split (keys must too)."""

    name: str
    frames: list[Path]
    labels: list[Path | None]
    start: int
    end: int


def _sorted_files(folder: Path, suffix: str) -> list[Path]:
    """Files of a folder with a suffix, in name order; error if none."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == suffix) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{folder}: no {suffix} files found")
    return files


def _temporal_range(n: int, split: str, train_fraction: float) -> tuple[int, int]:
    """First train_fraction of a sequence trains, the rest validates."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    cut = int(round(n * train_fraction))
    return (0, cut) if split == "train" else (cut, n)


def davis_clips(root: str | Path, split: str, split_mode: str = "temporal",
                train_fraction: float = 0.6) -> list[Clip]:
    """DAVIS-2016 layout: JPEGImages/480p, Annotations/480p, ImageSets/2016/{train,val}.txt.

    split_mode "sequences" uses the ImageSets lists; "temporal" splits every sequence in time.
    """
    root = Path(root)
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if split_mode not in SPLIT_MODES:
        raise ValueError(f"unknown split_mode {split_mode!r}; valid: {', '.join(SPLIT_MODES)}")
    sets = root / "ImageSets" / "2016"
    if not sets.is_dir():
        raise FileNotFoundError(f"{root}: not a DAVIS-2016 folder (missing ImageSets/2016)")
    if split_mode == "sequences":
        names = (sets / f"{split}.txt").read_text().split()
    else:
        names = sorted({n for s in ("train", "val") for n in (sets / f"{s}.txt").read_text().split()})
    clips = []
    for name in names:
        frames = _sorted_files(root / "JPEGImages" / "480p" / name, ".jpg")
        ann = root / "Annotations" / "480p" / name
        labels = [ann / (f.stem + ".png") for f in frames]
        labels = [p if p.is_file() else None for p in labels]
        start, end = (0, len(frames)) if split_mode == "sequences" else \
            _temporal_range(len(frames), split, train_fraction)
        clips.append(Clip(name, frames, labels, start, end))
    return clips


def synthetic_clips(root: str | Path, split: str, split_mode: str = "sequences",
                    train_fraction: float = 0.6) -> list[Clip]:
    """dff's synthetic layout: <root>/<split>/<sequence>/{frames,labels}/NNNNN.png."""
    root = Path(root)
    if split_mode == "sequences":
        seq_dirs = sorted(d for d in (root / split).iterdir() if d.is_dir()) if (root / split).is_dir() else []
    else:
        seq_dirs = sorted(d for s in ("train", "val") if (root / s).is_dir()
                          for d in (root / s).iterdir() if d.is_dir())
    if not seq_dirs:
        raise FileNotFoundError(f"{root}: no synthetic sequences for split {split!r} "
                                "(create them with `dff make-synthetic --out DIR`)")
    clips = []
    for d in seq_dirs:
        frames = _sorted_files(d / "frames", ".png")
        labels = [d / "labels" / f.name for f in frames]
        labels = [p if p.is_file() else None for p in labels]
        start, end = (0, len(frames)) if split_mode == "sequences" else \
            _temporal_range(len(frames), split, train_fraction)
        clips.append(Clip(d.name, frames, labels, start, end))
    return clips
