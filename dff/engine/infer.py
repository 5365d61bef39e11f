"""`dff infer`: a video, frame folder or webcam in; a segmentation video or label PNGs out."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import flow_to_image
from tqdm import tqdm

from ..data.datasets import spec
from ..data.label_writer import LabelPngWriter
from ..data.palettes import get_palette, overlay
from ..data.store import resized_size
from ..data.video import VideoReader
from ..data.video_writer import VideoWriter
from ..ops import resize_flow
from .builders import load_trained, select_device
from .metrics import class_map
from .policies import build_policy
from .stream import StreamSegmenter


def frame_tensor(frame: np.ndarray, size: tuple[int, int], device) -> torch.Tensor:
    """RGB uint8 (H, W, 3) to a (1, 3, h, w) float tensor in [0, 1] at the network size."""
    h, w = size
    if frame.shape[:2] != (h, w):
        frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(frame).permute(2, 0, 1)[None].to(device).float().div_(255.0)


def flow_panel(flow: torch.Tensor | None, size: tuple[int, int]) -> np.ndarray:
    """Colour-coded flow (torchvision's flow_to_image) in frame pixels; white for key frames."""
    if flow is None:
        return np.full((*size, 3), 255, np.uint8)
    flow = resize_flow(flow.float(), size)
    return flow_to_image(flow)[0].permute(1, 2, 0).cpu().numpy()


def label_map(logits: torch.Tensor) -> np.ndarray:
    """Per-pixel class ids of (1, C, H, W) logits as uint8 (H, W)."""
    return class_map(logits, 1)[0].to(torch.uint8).cpu().numpy()


MODES = ("overlay", "side-by-side", "colour", "labels")


def render(mode: str, frame: np.ndarray, labels: np.ndarray, palette: np.ndarray,
           alpha: float) -> np.ndarray:
    """One output video frame: overlay, frame | colour mask, or the colour mask alone."""
    if mode == "overlay":
        return overlay(frame, labels, palette, alpha)
    colour = palette[labels]
    return colour if mode == "colour" else np.concatenate((frame, colour), axis=1)


def infer_video(cfg: dict, checkpoint: str, source: str, output: str, key_interval: int | None = None,
                overwrite: bool = False, device: str = "auto", alpha: float = 0.5,
                show_flow: bool = False, progress: bool = True, mode: str = "overlay",
                palette: str | None = None, codec: str | None = None,
                allow_truncated: bool = False) -> dict:
    """Segment every frame of `source` with DFF and write `mode` at the input's size and fps.

    mode: overlay (colours blended with `alpha`), side-by-side (frame | colour mask), colour
    (the mask alone) - videos with `codec` (VideoWriter's default when None) - or labels: a
    folder `output` of class-id palette PNGs, 00000.png per frame. palette: voc (= davis),
    camvid or cityscapes; None picks data.dataset's. Frames are counted as decoded (never from
    the container header) and every writer verifies its output before it replaces `output`.
    With show_flow the flow to the key frame is drawn to the right (video modes only).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if show_flow and mode == "labels":
        raise ValueError("show_flow draws into a video; mode 'labels' writes PNGs")
    pal_name = palette or spec(cfg["data"]["dataset"]).palette
    pal = get_palette(pal_name)
    dev = select_device(device)
    model, ckpt = load_trained(cfg, checkpoint, dev)
    if int(ckpt["num_classes"]) > len(pal):
        raise ValueError(f"palette {pal_name} has {len(pal)} colours but the model predicts "
                         f"{ckpt['num_classes']} classes")
    k = key_interval or cfg["model"]["key_interval"]
    m = cfg["model"]
    runner = StreamSegmenter(model, build_policy(m["key_policy"], k))
    reader = VideoReader(source, allow_truncated=allow_truncated)
    net_size = resized_size(*reader.size, cfg["data"]["short_side"])
    h, w = reader.size
    if mode == "labels":
        writer = LabelPngWriter(output, pal, reader.size, overwrite=overwrite)
    else:
        panels = (2 if mode == "side-by-side" else 1) + show_flow
        writer = VideoWriter(output, reader.fps, (h, panels * w), overwrite=overwrite, codec=codec)
    t0 = time.perf_counter()
    with writer:
        for frame in tqdm(reader, desc="infer", unit="frame", disable=not progress):
            logits, _ = runner.step(frame_tensor(frame, net_size, dev))
            logits = F.interpolate(logits, size=reader.size, mode="bilinear", align_corners=False)
            labels = label_map(logits)
            if mode == "labels":
                writer.write(labels)
                continue
            vis = render(mode, frame, labels, pal, alpha)
            if show_flow:
                vis = np.concatenate((vis, flow_panel(runner.last_flow, reader.size)), axis=1)
            writer.write(vis)
        elapsed = time.perf_counter() - t0
    if writer.frames_written != reader.frames_read:
        raise RuntimeError(f"wrote {writer.frames_written} frames but decoded {reader.frames_read}")
    return {"output": str(Path(output)), "mode": mode, "palette": pal_name,
            "codec": getattr(writer, "codec", None), "frames_decoded": reader.frames_read,
            "frames_written": writer.frames_written, "size": list(reader.size), "fps": reader.fps,
            "key_interval": k, "key_policy": m["key_policy"], "key_frames": runner.keys, "key_runs": runner.key_runs,
            "seconds": round(elapsed, 3),
            "fps_processed": writer.frames_written / elapsed if elapsed > 0 else float("inf")}
