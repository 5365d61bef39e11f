"""Frames and labels of a split's clips, decoded once and held in memory."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

import cv2
import numpy as np
import torch

from .clips import Clip
from .frames import resized_size, shrink
from .video import VideoReader, read_image


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
