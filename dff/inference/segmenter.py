"""The VideoSegmenter that `dff.load` returns and `dff infer` and `dff eval` run: RGB frames of
any size in, class ids out, behind a key-frame policy."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..data.frames import resized_size, shrink, to_float
from ..data.palettes import get_palette
from ..data.video import VideoReader
from ..engine.metrics import class_map
from ..models import Segmenter, layout
from .lookahead import keys_ahead
from .policies import FixedPolicy, build_policy
from .stream import runner_for


@dataclass(frozen=True)
class Segmentation:
    """One frame's result: its index in the stream, class ids (H, W) at the input's size, and
    whether the key network ran on it."""

    index: int
    labels: np.ndarray
    is_key: bool


class VideoSegmenter:
    """A model behind a key-frame policy: RGB frames of any size in, segmentations out; one key
    state held, so memory stays constant in video length. The model is moved to the device and put
    in eval mode; on the CPU its key network may be stored channels-last (layout.key_channels_last).

    Args:
        model: a dff model (models/segmenter.py).
        key_interval: a key frame every this many frames (the fixed policy; unused with `policy`).
        short_side: frames are resized so that their short side is this before the model.
        device: where the model runs.
        class_names, palette: its classes and the palettes.PALETTES name that draws them.
        policy: a key-frame policy object instead (policies.py; research ones in experiments/).
        size: the (H, W) the model takes, if fixed (exported graphs, onnx_model.py): frames that
            resize to another size by short_side are an error.
    """

    def __init__(self, model: Segmenter, key_interval: int = 5, short_side: int = 240, device="cpu",
                 class_names: list[str] | None = None, palette: str = "voc", policy=None,
                 size: tuple[int, int] | None = None):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        layout.key_channels_last(self.model)
        self.short_side, self.size = short_side, size
        self.class_names, self.palette = class_names, palette
        self.colours = get_palette(palette)  # what the outputs are drawn with
        self.runner = runner_for(self.model, policy or build_policy("fixed", key_interval))

    @property
    def key_interval(self) -> int:
        """The policy's key interval (the mean one, for a policy that decides per frame)."""
        return self.runner.policy.key_interval

    def reset(self) -> None:
        """Forget the key: the next frame is a key frame (a new video)."""
        self.runner.reset()

    def _input(self, frame: np.ndarray) -> torch.Tensor:
        """An RGB uint8 (H, W, 3) frame as the network takes it: (1, 3, h, w) in [0, 1] at its size."""
        return to_float(self._small(frame))

    def _small(self, frame: np.ndarray) -> torch.Tensor:
        """_input() before the conversion to float: uint8 (1, 3, h, w), a quarter of the memory."""
        h, w = frame.shape[:2]
        net_h, net_w = resized_size(h, w, self.short_side)
        if self.size is not None and (net_h, net_w) != tuple(self.size):
            raise ValueError(f"frames of {w}x{h} resize to {net_h}x{net_w} (short side {self.short_side}) but the "
                             f"exported graphs take {self.size[0]}x{self.size[1]}: export with --size {net_h}x{net_w}")
        small = shrink(frame, (net_h, net_w))
        # channels-first in memory, as stored frames are: eval and infer then compute alike
        return torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1).contiguous()[None].to(self.device)

    def _net_logits(self, frame: np.ndarray) -> tuple[torch.Tensor, bool]:
        """Logits (1, C, h, w) at the network's size of an RGB uint8 (H, W, 3) frame, and whether it was a key."""
        return self.runner.step(self._input(frame))

    def step(self, frame: np.ndarray) -> tuple[torch.Tensor, bool]:
        """Logits (1, C, H, W) of an RGB uint8 (H, W, 3) frame at its own size, and whether it was a key."""
        logits, key = self._net_logits(frame)
        return F.interpolate(logits, size=frame.shape[:2], mode="bilinear", align_corners=False), key

    def labels(self, logits: torch.Tensor) -> np.ndarray:
        """Class ids (H, W) uint8 of step()'s logits."""
        return class_map(logits, 1)[0].to(torch.uint8).cpu().numpy()

    def segment(self, frame: np.ndarray) -> tuple[np.ndarray, bool]:
        """Class ids (H, W) uint8 of a frame, and whether it was a key: labels(step(frame)) at a
        fraction of its cost (OpenCV's bilinear upsampling, the same sampling as step()'s; with two
        classes only their difference is upsampled). Ties may break otherwise on a few pixels."""
        logits, key = self._net_logits(frame)
        return self._labels_at(logits, frame.shape[:2]), key

    def _labels_at(self, logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
        """segment()'s class ids at (H, W) of network-size logits (1, C, h, w)."""
        scores = logits[0].float().cpu().numpy()
        if scores.shape[0] > 512:  # beyond OpenCV's channel limit
            return self.labels(F.interpolate(logits, size=size, mode="bilinear", align_corners=False))
        if scores.shape[0] == 2:
            diff = cv2.resize(np.ascontiguousarray(scores[1] - scores[0]), size[::-1], interpolation=cv2.INTER_LINEAR)
            return (diff > 0).astype(np.uint8)
        up = cv2.resize(np.ascontiguousarray(scores.transpose(1, 2, 0)), size[::-1], interpolation=cv2.INTER_LINEAR)
        return (up if up.ndim == 3 else up[..., None]).argmax(-1).astype(np.uint8)

    def segment_frames(self, frames: Iterable[np.ndarray], ahead: bool = False, key_cpus: set[int] | None = None
                       ) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        """(frame, segment()'s class ids, is key) for every frame of an iterable, in order, from a key.

        ahead: under the fixed policy, the key network runs in a second thread on the next key
        frame while the frames before it are propagated, so that two CPU cores work where the
        key network alone would keep one busy (frames are read up to key_interval ahead). The
        outputs are those without it. Other policies decide on the frame itself: no look-ahead.
        key_cpus: with ahead, the CPUs that thread runs on (os.sched_setaffinity); None: any.
        """
        self.reset()
        policy = self.runner.policy
        if not (ahead and isinstance(policy, FixedPolicy) and policy.runner is None):
            for frame in frames:
                labels, key = self.segment(frame)
                yield frame, labels, key
            return
        for frame, x, key in keys_ahead(frames, policy.key_interval, self._small, self._key, key_cpus):
            logits, is_key = self.runner.step(to_float(x), key)
            yield frame, self._labels_at(logits, frame.shape[:2]), is_key

    @torch.no_grad()  # grad mode is per thread: the pool's thread needs its own
    def _key(self, x: torch.Tensor) -> tuple:
        """(state, logits) of the key network on a uint8 (1, 3, h, w) frame (_small's)."""
        state = self.model.key(to_float(x))
        return state, self.model.logits(state)

    def stream(self, source, allow_truncated: bool = False) -> Iterator[Segmentation]:
        """Segment every frame of source: a video file, frame folder, glob or webcam index (as
        `dff infer` reads them), or an iterable of RGB uint8 (H, W, 3) arrays. Starts on a key."""
        frames: Iterable[np.ndarray] = (VideoReader(source, allow_truncated=allow_truncated)
                                        if isinstance(source, (str, os.PathLike, int)) else source)
        for i, (_, labels, key) in enumerate(self.segment_frames(frames)):
            yield Segmentation(i, labels, key)
