"""Generic layout: a folder of frame sequences with sparse label PNGs, paired by frame number."""
from __future__ import annotations

from pathlib import Path

from .layouts import index_by_number
from .sequences import SPLIT_MODES, Clip, _temporal_range


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
            start, end = (0, len(run)) if split_mode == "sequences" else _temporal_range(len(run), split, train_fraction)
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
