"""Flow pretraining samples: consecutive frames of a synthetic set with their ground-truth flow."""
from __future__ import annotations

import cv2
import torch
import torch.nn.functional as F

from ..ops import resize_flow
from .flo import read_flo
from .pairs import SeededSamples
from .frames import to_float
from .store import FrameStore
from .transforms import clip_jitter, flow_crop_flip


def read_ground_truth(store: FrameStore) -> list[dict[int, torch.Tensor]]:
    """Per clip, frame t -> (3, H, W) float: its backward flow into t - 1 (u, v in pixels of the
    stored grid) and 1 where that flow is valid (not occluded, not from outside the frame).

    Read from dff's synthetic layout (flow/NNNNN.flo, occ/NNNNN.png beside frames/) and resized to
    the stored frames' grid (u and v rescaled separately; the mask nearest).
    """
    out = []
    for c, clip in enumerate(store.clips):
        if clip.video is not None:
            raise ValueError(f"{clip.video}: a video has no ground-truth flow (model.flow=oracle and train.objective "
                             "flow need dff's synthetic layout)")
        truth = {}
        for i in range(clip.start, clip.end):
            folder, name = clip.frames[i].parent.parent, clip.frames[i].stem
            path = folder / "flow" / f"{name}.flo"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no ground-truth flow (dff make-synthetic writes flow/*.flo)")
            size = tuple(store.frames[c][i].shape[-2:])
            flow = resize_flow(torch.from_numpy(read_flo(path)).permute(2, 0, 1)[None], size)[0]
            occ = cv2.imread(str(folder / "occ" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
            if occ is None:
                raise FileNotFoundError(f"{folder / 'occ' / f'{name}.png'}: missing or unreadable occlusion map")
            valid = torch.from_numpy(occ == 0).float()[None, None]
            truth[i] = torch.cat([flow, F.interpolate(valid, size=size, mode="nearest")[0]])
        out.append(truth)
    return out


class FlowPairDataset(SeededSamples):
    """(window, target, offset) samples for train.objective flow, as FlyingChairs pairs.

    window (2, 3, H, W) float in [0, 1] is (frame t - 1, frame t): the key first, the current
    last, as PairDataset's; target (3, H, W) is frame t's ground-truth flow into t - 1 and its
    valid mask; offset is 1. One random crop, flip and colour jitter per sample, drawn from
    SeededSamples.sample_rng, as PairDataset's.

    Args:
        store: decoded clips of a synthetic set.
        truth: read_ground_truth(store).
        crop_size: (h, w) training crop, or None for full frames.
        seed: base seed of the per-sample draws.
        jitter: colour jitter strength (0: none).
    """

    def __init__(self, store: FrameStore, truth: list[dict[int, torch.Tensor]], crop_size=None, seed: int = 0,
                 jitter: float = 0.0):
        self.store, self.truth, self.crop_size = store, truth, crop_size
        self.seed, self.epoch, self.jitter = int(seed), 0, float(jitter)
        self.items = [(c, t) for c, clip in enumerate(store.clips) for t in range(clip.start + 1, clip.end)]
        if not self.items:
            raise ValueError("no frame pairs in this split (every clip needs 2 frames)")

    def __getitem__(self, idx: int):
        rng = self.sample_rng(idx)
        c, t = self.items[idx]
        frames = torch.stack([self.store.frames[c][t - 1], self.store.frames[c][t]])
        target = self.truth[c][t]
        if self.crop_size is not None:
            frames, target = flow_crop_flip(frames, target, self.crop_size, rng)
        return to_float(clip_jitter(frames, self.jitter, rng)), target, 1
