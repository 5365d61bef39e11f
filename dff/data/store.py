"""Frames and labels of a split's clips, decoded once and held in memory."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import torch

from .clips import Clip


def resized_size(h: int, w: int, short_side: int) -> tuple[int, int]:
    """(h, w) scaled so that the short side equals short_side."""
    s = short_side / min(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def read_rgb(path) -> np.ndarray:
    """Image file to RGB uint8, naming the file on failure."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: unreadable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class FrameStore:
    """Frames (uint8, C,H,W) and labels (uint8, H,W) of clips, decoded once and resized.

    Decoding JPEGs dominates CPU training otherwise; a DAVIS-mini clip set at short side 240 is
    about 300 MB. Only frames in [start, end) are kept: keys may not leave the split.
    """

    def __init__(self, clips: list[Clip], short_side: int, read_label: Callable,
                 ignore_index: int = 255):
        self.clips = clips
        self.frames: list[dict[int, torch.Tensor]] = []
        self.labels: list[dict[int, torch.Tensor]] = []
        for clip in clips:
            frames, labels = {}, {}
            for i in range(clip.start, clip.end):
                img = read_rgb(clip.frames[i])
                h, w = resized_size(*img.shape[:2], short_side)
                frames[i] = torch.from_numpy(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)).permute(2, 0, 1).contiguous()
                if clip.labels[i] is not None:
                    lab = read_label(clip.labels[i])
                    if lab.shape != img.shape[:2]:
                        raise ValueError(f"{clip.labels[i]}: label size {lab.shape} differs from "
                                         f"frame size {img.shape[:2]} ({clip.frames[i]})")
                    labels[i] = torch.from_numpy(cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST))
            self.frames.append(frames)
            self.labels.append(labels)

    def targets(self) -> list[tuple[int, int]]:
        """(clip index, frame index) of every labelled frame in the split."""
        return [(c, i) for c, labs in enumerate(self.labels) for i in sorted(labs)]


def to_float(frame: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) to float [0, 1]."""
    return frame.float().div_(255.0)
