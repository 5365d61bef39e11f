"""`dff infer`: a video, frame folder or webcam in; a segmentation video or label PNGs out."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import flow_to_image
from tqdm import tqdm

from ..data.palettes import colourise, get_palette, overlay
from ..data.video import VideoReader
from ..engine.builders import load_trained, select_device
from ..io.label_writer import LabelPngWriter
from ..io.outputs import refuse_inputs
from ..io.video_writer import VideoWriter
from ..ops import resize_flow
from .onnx_model import OnnxModel
from .options import InferOptions
from .policies import build_policy
from .queues import Drain, Prefetch
from .segmenter import VideoSegmenter
from .tuning import applied, plan_cpus


def flow_panel(flow: torch.Tensor | None, size: tuple[int, int]) -> np.ndarray:
    """Colour-coded flow (torchvision's flow_to_image) in frame pixels; white for key frames."""
    if flow is None:
        return np.full((*size, 3), 255, np.uint8)
    flow = resize_flow(flow.float(), size)
    return flow_to_image(flow)[0].permute(1, 2, 0).cpu().numpy()


def render(mode: str, frame: np.ndarray, labels: np.ndarray, palette: np.ndarray,
           alpha: float) -> np.ndarray:
    """One output video frame: overlay, frame | colour mask, or the colour mask alone."""
    if mode == "overlay":
        return overlay(frame, labels, palette, alpha)
    colour = colourise(labels, palette)
    return colour if mode == "colour" else np.concatenate((frame, colour), axis=1)


def infer_video(cfg: dict | None, checkpoint: str | None, source, output: str, opts: InferOptions = InferOptions(),
                ckpt: dict | None = None) -> dict:
    """Segment every frame of `source` and write `opts.mode` at the input's size and fps.

    checkpoint: a trained model's, or None for a config that names a complete pretrained model
    (builders.has_own_weights: configs/pretrained/); ckpt: the checkpoint already read from it.
    With opts.onnx, the exported graphs run instead (cfg and checkpoint unused). Frames are
    counted as decoded (never from the container header) and every writer verifies its output
    before it replaces `output`.
    """
    check_output(output, source, checkpoint, opts)
    return run_video(build_segmenter(cfg, checkpoint, opts, ckpt), source, output, opts)


def check_output(output, source, checkpoint: str | None, opts: InferOptions) -> None:
    """An output never lands on an input: the source, config, checkpoint or export folder."""
    refuse_inputs(output, {"input": source, "config": opts.config, "checkpoint": checkpoint, "onnx": opts.onnx})


def build_segmenter(cfg: dict | None, checkpoint: str | None, opts: InferOptions = InferOptions(),
                    ckpt: dict | None = None) -> VideoSegmenter:
    """The VideoSegmenter infer_video runs: the trained model (or the exported graphs of
    opts.onnx), its key interval, palette and device from opts."""
    if opts.onnx is not None:
        dev, model = torch.device("cpu"), OnnxModel(opts.onnx)
        m, num_classes, net = model.info, model.info["num_classes"], {"size": model.size,
                                                                      "short_side": model.info["short_side"]}
    else:
        dev = select_device(opts.device)
        model, ckpt = load_trained(cfg, checkpoint, dev, ckpt)
        m, num_classes, net = cfg["model"], int(ckpt["num_classes"]), {"short_side": cfg["data"]["short_side"]}
    palette = opts.palette or model.palette
    get_palette(palette, num_classes)  # enough colours for the classes, before any work
    k = opts.key_interval or m["key_interval"]
    return VideoSegmenter(model, device=dev, class_names=model.class_names, palette=palette,
                          policy=build_policy(m["key_policy"], k), **net)


def run_video(seg: VideoSegmenter, source, output: str, opts: InferOptions = InferOptions()) -> dict:
    """One video through seg into `output`; what was written and how fast. Decoding runs ahead of
    the model and rendering + encoding behind it, in threads (queues.py), on the CPUs plan_cpus
    gives them (tuning.py)."""
    plan = plan_cpus(seg.device.type == "cpu", opts.threads, opts.realtime)
    reader = VideoReader(source, allow_truncated=opts.allow_truncated, threads=plan.io_threads)
    writer = _writer(output, reader, seg, opts, plan.io_threads)
    before = replace(seg.runner.stats)  # a copy: the segmenter may have run before

    def emit(frame: np.ndarray, labels: np.ndarray, flow) -> None:  # in the writer thread
        if opts.mode == "labels":
            return writer.write(labels)
        vis = render(opts.mode, frame, labels, seg.colours, opts.alpha)
        writer.write(np.concatenate((vis, flow_panel(flow, reader.size)), axis=1) if opts.show_flow else vis)

    t0 = time.perf_counter()
    with applied(plan), writer:
        with Prefetch(reader, latest=opts.realtime) as frames, Drain(emit) as sink:
            for frame, labels, _ in tqdm(seg.segment_frames(frames, plan.ahead, plan.key_cpus), desc="infer",
                                         unit="frame", disable=not opts.progress):
                sink.put(frame, labels, seg.runner.last_flow if opts.show_flow else None)
        elapsed = time.perf_counter() - t0  # the writer's read-back check after it is not counted
    if writer.frames_written + frames.dropped != reader.frames_read:
        raise RuntimeError(f"wrote {writer.frames_written} frames and dropped {frames.dropped} but decoded "
                           f"{reader.frames_read}")
    done = seg.runner.stats.since(before)
    return {"output": str(Path(output)), "mode": opts.mode, "palette": seg.palette,
            "codec": getattr(writer, "codec", None), "frames_decoded": reader.frames_read,
            "frames_written": writer.frames_written, "frames_dropped": frames.dropped, "size": list(reader.size),
            "fps": reader.fps, "key_interval": seg.key_interval, "key_policy": seg.runner.policy.name,
            "key_frames": done.keys, "key_runs": done.key_runs, "seconds": round(elapsed, 3),
            "fps_processed": writer.frames_written / elapsed if elapsed > 0 else float("inf")}


def _writer(output: str, reader: VideoReader, seg: VideoSegmenter, opts: InferOptions, threads: int | None):
    """The label folder or video writer of opts.mode, sized for the reader's frames."""
    if opts.mode == "labels":
        return LabelPngWriter(output, seg.colours, reader.size, overwrite=opts.overwrite)
    h, w = reader.size
    panels = (2 if opts.mode == "side-by-side" else 1) + opts.show_flow
    return VideoWriter(output, reader.fps, (h, panels * w), overwrite=opts.overwrite, codec=opts.codec,
                       preset=opts.preset, threads=threads)
