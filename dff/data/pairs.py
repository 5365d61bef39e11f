"""The training samples: windows of frames from a key to a labelled current frame."""
from __future__ import annotations

import random

import torch
from torch.utils.data import Dataset

from .frames import to_float
from .store import FrameStore
from .transforms import clip_jitter, paired_crop_flip, paired_scale


class SeededSamples(Dataset):
    """Samples `items` whose random draws come from (seed, epoch, idx) alone (set `seed`, `items`)."""

    seed: int
    items: list
    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of another pass over the data (call before each epoch)."""
        self.epoch = int(epoch)

    def sample_rng(self, idx: int) -> random.Random:
        """The generator of sample idx in the current epoch (string seeds hash stably)."""
        return random.Random(f"{self.seed}/{self.epoch}/{idx}")

    def __len__(self) -> int:
        return len(self.items)


class PairDataset(SeededSamples):
    """(window, label, offset) samples; the key lies 0..max_offset frames before the current.

    Targets are the split's labelled frames, and every frame of unlabeled clips (Clip.labelled
    False), whose label is all ignore_index.

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
            raise ValueError("no labelled frames in this split (nor frames of unlabeled footage)")

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
        labels = self.store.labels[c]  # unlabeled footage: all ignore, so batches stack and losses skip it
        label = labels[t] if t in labels else torch.full(frames.shape[-2:], self.ignore_index, dtype=torch.uint8)
        if tuple(self.scale_range) != (1.0, 1.0):
            frames, label = paired_scale(frames, label, self.scale_range, rng)
        if self.crop_size is not None:
            frames, label = paired_crop_flip(frames, label, self.crop_size, rng, self.ignore_index)
        frames = clip_jitter(frames, self.jitter, rng)
        return to_float(frames), label.long(), offset
