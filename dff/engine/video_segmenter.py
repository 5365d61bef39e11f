"""`dff.load`: one entry point for programs, and the VideoSegmenter that `dff infer` and `dff eval` run.

    seg = dff.load("runs/davis/best.pt", key_interval=5)        # a dff checkpoint
    seg = dff.load("torchvision:deeplabv3_mobilenet_v3_large")  # a pretrained segmenter, DIS flow
    for result in seg.stream("video.mp4"):                      # a file, folder, glob, webcam index
        result.index, result.labels, result.is_key              # or an iterable of RGB uint8 arrays
"""
from __future__ import annotations

import copy
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import DEFAULTS, ConfigError, merge, saved_config, validate
from ..data.store import resized_size, shrink, to_float
from ..data.video import VideoReader
from ..models import Segmenter
from ..models.pretrained import key_network_from_module
from .builders import load_trained, model_from_config, select_device
from .checkpoint import load_checkpoint
from .metrics import class_map
from .policies import FixedPolicy, build_policy
from .stream import StreamSegmenter

# a pretrained segmenter's input size (short side) when none is given: what its weights were trained at
PRETRAINED_SHORT_SIDE = {"torchvision": 520, "hf": 512}


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
    in eval mode; on the CPU its key network may be stored channels-last (Segmenter.key_channels_last).

    Args:
        model: a dff model (models/segmenter.py).
        key_interval: a key frame every this many frames (the fixed policy).
        short_side: frames are resized so that their short side is this before the model.
        device: where the model runs.
        class_names, palette: its classes and the palettes.PALETTES name that draws them.
        policy: a key-frame policy object instead (policies.py; research ones in experiments/).
        size: the (H, W) the model takes, if fixed (exported graphs, onnx_runtime.py): frames that
            resize to another size by short_side are an error.
    """

    def __init__(self, model: Segmenter, key_interval: int = 5, short_side: int = 240, device="cpu",
                 class_names: list[str] | None = None, palette: str = "voc", policy=None,
                 size: tuple[int, int] | None = None):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.model.key_channels_last()
        self.key_interval, self.short_side, self.size = key_interval, short_side, size
        self.class_names, self.palette = class_names, palette
        self.runner = StreamSegmenter(self.model, policy or build_policy("fixed", key_interval))

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
        if not (ahead and isinstance(self.runner.policy, FixedPolicy)):
            for frame in frames:
                labels, key = self.segment(frame)
                yield frame, labels, key
            return
        k, it, window, index = self.runner.policy.key_interval, iter(frames), deque(), 0
        pin = {"initializer": os.sched_setaffinity, "initargs": (0, key_cpus)} if key_cpus else {}
        with ThreadPoolExecutor(1, thread_name_prefix="dff-key", **pin) as pool:
            def read() -> bool:  # the next frame into the window; its key network started if it is a key
                nonlocal index
                frame = next(it, None)
                if frame is None:
                    return False
                x = self._small(frame)  # the fixed policy keys frames 0, k, 2k, ... after reset()
                window.append((frame, x, pool.submit(self._key, x) if index % k == 0 else None))
                index += 1
                return True
            more = True
            while True:
                while more and len(window) <= k:  # the frame to step and the next key after it
                    more = read()
                if not window:
                    return
                frame, x, key = window.popleft()
                logits, is_key = self.runner.step(to_float(x), None if key is None else key.result())
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


def _apply(cfg: dict, overrides: dict) -> tuple[dict, str]:
    """Overrides by bare key name (key_interval=5, flow="dis", short_side=...) into cfg; the device."""
    cfg, device = copy.deepcopy(cfg), overrides.pop("device", "auto")
    for key, value in overrides.items():
        section = next((s for s in ("model", "data") if key in DEFAULTS[s]), None)
        if section is None:
            raise ConfigError(f"dff.load: unknown override {key!r}; valid: device, "
                              f"{', '.join(sorted([*DEFAULTS['model'], *DEFAULTS['data']]))}")
        cfg[section][key] = value
    return validate(cfg, "dff.load: "), device


def load(source, **overrides) -> VideoSegmenter:
    """A VideoSegmenter from a dff checkpoint (its saved config), a "torchvision:<name>" or
    "hf:<hub id or folder>" pretrained segmenter (its own weights, DIS flow: no training), or an
    instance of one of those models (torchvision's DeepLabV3, FCN, LRASPP; transformers'
    SegformerForSemanticSegmentation) or of a dff model. A torchvision instance's modules are used,
    not copied: VideoSegmenter's device, eval mode and memory format apply to them.

    overrides: config keys by bare name (key_interval=5, flow="dis", pretrained=None,
    short_side=520, ...) and device ("auto", "cpu", "cuda"); on a dff checkpoint only those that
    leave what the model learned intact (config.trained_model_config).
    """
    overrides = dict(overrides)
    if isinstance(source, Segmenter):
        cfg, device = _apply(DEFAULTS, overrides)
        model = source
    elif isinstance(source, nn.Module):  # a torchvision or Hugging Face segmenter, split around its own modules
        cfg, device = _apply(_pretrained_defaults(_kind_of(source)), overrides)
        kn = key_network_from_module(source)
        model = model_from_config({**cfg, "model": {**cfg["model"], "key_network": kn}}, len(kn.class_names))
    elif str(source).split(":", 1)[0] in PRETRAINED_SHORT_SIDE:
        cfg, device = _apply(merge(_pretrained_defaults(str(source).split(":", 1)[0]),
                                   {"model": {"key_network": str(source)}}), overrides)
        model, _ = load_trained(cfg, None, select_device(device))
    else:
        ckpt = load_checkpoint(source)  # its own config; load_trained refuses overrides that change what it learned
        cfg, device = _apply(saved_config(ckpt, f"{source}: ") or DEFAULTS, overrides)
        model, _ = load_trained(cfg, source, select_device(device), ckpt)
    return VideoSegmenter(model, cfg["model"]["key_interval"], cfg["data"]["short_side"], select_device(device),
                          model.class_names, model.palette or "voc")


def _kind_of(module: nn.Module) -> str:
    return "hf" if type(module).__name__.startswith("Segformer") else "torchvision"


def _pretrained_defaults(kind: str) -> dict:
    """The config of a pretrained segmenter run without training: its weights, DIS flow, its input size."""
    return merge(DEFAULTS, {"model": {"pretrained": "default", "flow": "dis"},
                            "data": {"short_side": PRETRAINED_SHORT_SIDE[kind]}})
