"""In-memory clip store and the (key, current) pair dataset that DFF trains on."""
from __future__ import annotations

import random
from typing import Callable

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .sequences import Clip
from .transforms import clip_jitter, paired_crop_flip, paired_scale


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


class PairDataset(Dataset):
    """(window, label, offset) samples; the key lies 0..max_offset frames before the current.

    window is (max_offset + 1, 3, H, W) float in [0, 1]: the key, the frames after it and the
    labelled current frame last, front-padded with copies of the key when the offset is smaller
    than max_offset (so batches stack; chained propagation steps through every frame). The
    offset is drawn uniformly from those that keep the key inside the split, and the same random
    scale, crop, flip and colour jitter apply to every frame (and scale/crop/flip to the label).
    With pair_only the window is just (key, current): direct propagation needs no frame in
    between, and transforms cost per frame.

    Every draw of sample idx comes from random.Random seeded by (seed, epoch, idx): a sample
    is the same in any process or DataLoader worker, and changes when set_epoch changes.

    Args:
        store: decoded clips.
        max_offset: largest key distance (k - 1 for key interval k).
        crop_size: (h, w) training crop, or None for full frames.
        ignore_index: label value for padding when a crop exceeds the frame.
        scale_range: (lo, hi) random resize factor applied before the crop.
        pair_only: return (key, current) windows of 2 frames instead of the full window.
        seed: base seed of the per-sample draws.
        jitter: colour jitter strength (0: none), one draw per clip.
    """

    def __init__(self, store: FrameStore, max_offset: int, crop_size=None, ignore_index: int = 255,
                 scale_range=(1.0, 1.0), pair_only: bool = False, seed: int = 0, jitter: float = 0.0):
        self.store, self.max_offset, self.pair_only = store, max_offset, pair_only
        self.crop_size, self.ignore_index, self.scale_range = crop_size, ignore_index, scale_range
        self.seed, self.epoch, self.jitter = int(seed), 0, float(jitter)
        self.items = store.targets()
        if not self.items:
            raise ValueError("no labelled frames in this split")

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of another pass over the data (call before each epoch)."""
        self.epoch = int(epoch)

    def sample_rng(self, idx: int) -> random.Random:
        """The generator of sample idx in the current epoch (string seeds hash stably)."""
        return random.Random(f"{self.seed}/{self.epoch}/{idx}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int):
        rng = self.sample_rng(idx)
        c, t = self.items[idx]
        start = self.store.clips[c].start
        offset = rng.randint(0, min(self.max_offset, t - start))
        if self.pair_only:
            idx = [t - offset, t]
        else:
            idx = [t - offset] * (self.max_offset - offset) + list(range(t - offset, t + 1))
        frames = torch.stack([self.store.frames[c][i] for i in idx])
        label = self.store.labels[c][t]
        if tuple(self.scale_range) != (1.0, 1.0):
            frames, label, _ = paired_scale(frames, label, self.scale_range, rng)
        if self.crop_size is not None:
            frames, label, _ = paired_crop_flip(frames, label, self.crop_size, rng, self.ignore_index)
        frames = clip_jitter(frames, self.jitter, rng)
        return to_float(frames), label.long(), offset
