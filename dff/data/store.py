"""Frames and labels of a split's clips, decoded once and held in memory."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

import cv2
import numpy as np
import torch

from .clips import Clip
from .video import VideoReader, read_image


def resized_size(h: int, w: int, short_side: int) -> tuple[int, int]:
    """(h, w) scaled so that the short side equals short_side."""
    s = short_side / min(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image (H, W[, C]) area-resized to size (h, w): halved by 2 x 2 box averages while it stays
    at least that size, then one area resize for the rest. OpenCV's general area resize costs 2-4x
    more (960x540 to 427x240: 3.9 against 2.0 ms; 1920x1080: 10.7 against 2.8); the two differ by
    a fraction of a level on video frames and not at all where the ratio is an integer."""
    h, w = size
    while img.shape[1] // 2 >= w and img.shape[0] // 2 >= h and (img.shape[1] % w or img.shape[0] % h):
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def split_frames(clip: Clip) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB frame) of a clip's frames start..end-1: image files, or a video decoded in order
    from its first frame (seeking is not frame-exact) and closed after frame end-1."""
    if clip.video is None:
        for i in range(clip.start, clip.end):
            yield i, read_image(clip.frames[i])
        return
    i = clip.start - 1
    for i, img in islice(enumerate(VideoReader(clip.video, allow_truncated=True)), clip.start, clip.end):
        yield i, img
    if i != clip.end - 1:
        raise ValueError(f"{clip.video}: decodes fewer than the {clip.end} frames the split needs "
                         "(changed since its frames were counted?)")


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
            for i, img in split_frames(clip):
                h, w = resized_size(*img.shape[:2], short_side)
                frames[i] = torch.from_numpy(shrink(img, (h, w))).permute(2, 0, 1).contiguous()
                if clip.labels[i] is not None:
                    lab = read_label(clip.labels[i])
                    if lab.shape != img.shape[:2]:
                        raise ValueError(f"{clip.labels[i]}: label size {lab.shape} differs from "
                                         f"frame size {img.shape[:2]} ({clip.frames[i]})")
                    labels[i] = torch.from_numpy(cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST))
            self.frames.append(frames)
            self.labels.append(labels)

    def targets(self) -> list[tuple[int, int]]:
        """(clip index, frame index) of every labelled frame in the split, and of every frame of
        unlabeled clips (Clip.labelled False)."""
        return [(c, i) for c, (clip, labs) in enumerate(zip(self.clips, self.labels))
                for i in (sorted(labs) if clip.labelled else range(clip.start, clip.end))]


def to_float(frame: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) to float [0, 1]."""
    return frame.float().div_(255.0)
