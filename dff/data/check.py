"""Dataset checks for `dff check-data`: counts, label values found and every problem listed."""
from __future__ import annotations

import numpy as np
from PIL import Image

from .clips import Clip
from .labels import map_raw, read_label_image


def image_size(path) -> tuple[int, int]:
    """(h, w) of an image decoded in full (a truncated file has a sound header), naming the file
    when unreadable."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.height, img.width
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{path}: unreadable image ({e})") from e


def check_clips(clips: list[Clip], lut: np.ndarray) -> dict:
    """Frames and labels of a split's clips: counts, raw label values found, problems.

    Each frame in a clip's range is decoded in full; each label is decoded, mapped through
    lut and compared in size with its frame. Frames shared by overlapping clips count once. A
    video clip's frames were counted by decoding when the clip was built. clips: (name, frames
    in the split) of each clip.
    """
    frames, labels, values, problems = set(), set(), set(), []
    for clip in clips:
        if clip.video is not None:  # no labels; its frame count came from decoding it
            frames.update((clip.video, i) for i in range(clip.start, clip.end))
            continue
        for i in range(clip.start, clip.end):
            frame, label = clip.frames[i], clip.labels[i]
            try:
                size = image_size(frame) if frame not in frames else None
                frames.add(frame)
                if label is None or label in labels:
                    continue
                labels.add(label)
                raw = read_label_image(label)
                values.update(np.unique(raw).tolist())
                size = size or image_size(frame)
                if raw.shape != size:
                    problems.append(f"{label}: label size {raw.shape} differs from frame size {size} ({frame})")
                map_raw(raw, lut, label)
            except ValueError as e:
                problems.append(str(e))
    return {"frames": len(frames), "labels": len(labels), "values": sorted(values), "problems": problems,
            "clips": [(c.name, c.end - c.start) for c in clips]}


def format_values(values: list[int], limit: int = 40) -> str:
    """Label values as a short list."""
    text = ", ".join(map(str, values[:limit]))
    return f"[{text}{', ...' if len(values) > limit else ''}] ({len(values)} distinct)"
