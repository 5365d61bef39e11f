"""`dff infer`: a video (or frame folder) in, a segmentation overlay video out."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import flow_to_image
from tqdm import tqdm

from ..data.datasets import resized_size
from ..data.palettes import overlay, voc_palette
from ..data.video import VideoReader, VideoWriter
from ..ops import resize_flow
from .setup import load_trained, select_device
from .stream import StreamSegmenter, build_policy


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


def infer_video(cfg: dict, checkpoint: str, source: str, output: str, key_interval: int | None = None,
                overwrite: bool = False, device: str = "auto", alpha: float = 0.5,
                show_flow: bool = False, progress: bool = True) -> dict:
    """Segment every frame of `source` with DFF and write an overlay video of the same size/fps.

    Frames are counted as decoded (never from the container header); the writer re-opens its
    output and checks that the frame count and size match before it replaces `output`. With
    show_flow the flow to the key frame is drawn to the right of the overlay (double width).
    """
    dev = select_device(device)
    model, _ = load_trained(cfg, checkpoint, dev)
    k = key_interval or cfg["model"]["key_interval"]
    m = cfg["model"]
    runner = StreamSegmenter(model, build_policy(m["key_policy"], k, m["key_threshold"]))
    reader = VideoReader(source)
    net_size = resized_size(*reader.size, cfg["data"]["short_side"])
    palette = voc_palette()
    t0 = time.perf_counter()
    h, w = reader.size
    out_size = (h, 2 * w) if show_flow else (h, w)
    with VideoWriter(output, reader.fps, out_size, overwrite=overwrite) as writer:
        for frame in tqdm(reader, desc="infer", unit="frame", disable=not progress):
            logits, _ = runner.step(frame_tensor(frame, net_size, dev))
            logits = F.interpolate(logits, size=reader.size, mode="bilinear", align_corners=False)
            labels = logits.argmax(1)[0].to(torch.uint8).cpu().numpy()
            vis = overlay(frame, labels, palette, alpha)
            if show_flow:
                vis = np.concatenate((vis, flow_panel(runner.last_flow, reader.size)), axis=1)
            writer.write(vis)
        elapsed = time.perf_counter() - t0
    if writer.frames_written != reader.frames_read:
        raise RuntimeError(f"wrote {writer.frames_written} frames but decoded {reader.frames_read}")
    return {"output": str(Path(output)), "frames_decoded": reader.frames_read,
            "frames_written": writer.frames_written, "size": list(reader.size), "fps": reader.fps,
            "key_interval": k, "key_policy": m["key_policy"], "key_frames": runner.keys,
            "seconds": round(elapsed, 3),
            "fps_processed": writer.frames_written / elapsed if elapsed > 0 else float("inf")}
