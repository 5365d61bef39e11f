"""`dff infer`: a video, frame folder or webcam in; a segmentation video or label PNGs out."""
from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.utils import flow_to_image
from tqdm import tqdm

from ..data.label_writer import LabelPngWriter
from ..data.outputs import refuse_inputs
from ..data.palettes import colourise, get_palette, overlay
from ..data.video import VideoReader
from ..data.video_writer import VideoWriter
from ..ops import resize_flow
from .builders import load_trained, select_device
from .onnx_runtime import OnnxSegmenter
from .pipeline import Drain, Prefetch, split_cores
from .policies import build_policy
from .video_segmenter import VideoSegmenter


def flow_panel(flow: torch.Tensor | None, size: tuple[int, int]) -> np.ndarray:
    """Colour-coded flow (torchvision's flow_to_image) in frame pixels; white for key frames."""
    if flow is None:
        return np.full((*size, 3), 255, np.uint8)
    flow = resize_flow(flow.float(), size)
    return flow_to_image(flow)[0].permute(1, 2, 0).cpu().numpy()


MODES = ("overlay", "side-by-side", "colour", "labels")


def render(mode: str, frame: np.ndarray, labels: np.ndarray, palette: np.ndarray,
           alpha: float) -> np.ndarray:
    """One output video frame: overlay, frame | colour mask, or the colour mask alone."""
    if mode == "overlay":
        return overlay(frame, labels, palette, alpha)
    colour = colourise(labels, palette)
    return colour if mode == "colour" else np.concatenate((frame, colour), axis=1)


def infer_video(cfg: dict, checkpoint: str | None, source: str, output: str, key_interval: int | None = None,
                overwrite: bool = False, device: str = "auto", alpha: float = 0.5,
                show_flow: bool = False, progress: bool = True, mode: str = "overlay",
                palette: str | None = None, codec: str | None = None, preset: str | None = None,
                allow_truncated: bool = False, ckpt: dict | None = None, onnx: str | None = None,
                threads: int | None = None, realtime: bool = False) -> dict:
    """Segment every frame of `source` and write `mode` at the input's size and fps.

    checkpoint: a trained model's, or None for a config that names a complete pretrained model
    (builders.has_own_weights: configs/pretrained/). mode: overlay (colours blended with
    `alpha`), side-by-side (frame | colour mask), colour (the mask alone) - videos with `codec`
    (VideoWriter's default when None; preset: h264's x264 preset) - or labels: a folder `output` of class-id palette PNGs,
    00000.png per frame. palette: voc (= davis), camvid or cityscapes; None picks the model's
    (data.dataset's, or a pretrained key network's). Frames are counted as decoded (never from
    the container header) and every writer verifies its output before it replaces `output`.
    With show_flow the flow to the key frame is drawn to the right (video modes only). ckpt: the
    checkpoint already read from `checkpoint`. onnx: run the graphs `dff export` wrote into this
    folder on onnxruntime instead (cfg and checkpoint unused; frames resized to the export size).
    threads, realtime: as segment_video.
    """
    refuse_inputs(output, {"input": source, "checkpoint": checkpoint, "onnx": onnx})
    seg = build_segmenter(cfg, checkpoint, device, key_interval, palette, mode, show_flow, ckpt, onnx)
    return segment_video(seg, source, output, mode, alpha, show_flow, codec, overwrite, allow_truncated, progress,
                         threads, realtime, preset)


def build_segmenter(cfg: dict | None, checkpoint: str | None, device: str = "auto", key_interval: int | None = None,
                    palette: str | None = None, mode: str = "overlay", show_flow: bool = False,
                    ckpt: dict | None = None, onnx: str | None = None) -> VideoSegmenter:
    """The VideoSegmenter infer_video runs (arguments as there), checked against the output mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if show_flow and mode == "labels":
        raise ValueError("show_flow draws into a video; mode 'labels' writes PNGs")
    if onnx is not None:
        if show_flow:
            raise ValueError("--show-flow: an exported propagate graph does not report its flow")
        dev, model = torch.device("cpu"), OnnxSegmenter(onnx)
        m, num_classes, net = model.info, model.info["num_classes"], {"size": model.size,
                                                                      "short_side": model.info["short_side"]}
    else:
        dev = select_device(device)
        model, ckpt = load_trained(cfg, checkpoint, dev, ckpt)
        m, num_classes, net = cfg["model"], int(ckpt["num_classes"]), {"short_side": cfg["data"]["short_side"]}
    pal_name = palette or model.palette
    if num_classes > len(get_palette(pal_name)):
        raise ValueError(f"palette {pal_name} has {len(get_palette(pal_name))} colours but the model predicts "
                         f"{num_classes} classes")
    k = key_interval or m["key_interval"]
    return VideoSegmenter(model, device=dev, class_names=model.class_names, palette=pal_name,
                          policy=build_policy(m["key_policy"], k), key_interval=k, **net)


def segment_video(seg: VideoSegmenter, source, output: str, mode: str = "overlay", alpha: float = 0.5,
                  show_flow: bool = False, codec: str | None = None, overwrite: bool = False,
                  allow_truncated: bool = False, progress: bool = True, threads: int | None = None,
                  realtime: bool = False, preset: str | None = None) -> dict:
    """One video through seg into `output` (infer_video's arguments); what was written and how fast.
    realtime: frames that arrive while the model is busy are dropped (counted in frames_dropped),
    never queued: for live sources.
    threads: the model's CPU threads (default one less than torch's: a core for the pipeline's
    decoding and encoding threads; a heavy key network may run faster with all). With one, the
    next key frame's key network runs in a second thread (VideoSegmenter.segment_frames) on a
    CPU of its own (Linux): the rest of the pipeline shares the others, its decoder, encoder and
    OpenCV at one thread each."""
    cpu, before, cv_threads = seg.device.type == "cpu", torch.get_num_threads(), cv2.getNumThreads()
    model_threads = (threads or max(1, before - 1)) if cpu else before
    # a model on one CPU thread: the next key network runs in a second one, beside propagation
    # (more threads each would oversubscribe; live sources: no reading ahead)
    ahead = cpu and model_threads == 1 and not realtime
    # On 2 cores, left to the scheduler, the other threads took ~10% of the key network's thread's
    # time, and it is the slower side; given a core of its own, with no codec or OpenCV threads
    # switching on the other, `dff infer` ran 3-13% faster (medians of 6 rounds; docs/results.md (j)).
    split = split_cores() if ahead else None
    key_cpus, io_threads = (split[0], 1) if split else (None, None)
    pal = get_palette(seg.palette)
    reader = VideoReader(source, allow_truncated=allow_truncated, threads=io_threads)
    h, w = reader.size
    if mode == "labels":
        writer = LabelPngWriter(output, pal, reader.size, overwrite=overwrite)
    else:
        panels = (2 if mode == "side-by-side" else 1) + show_flow
        writer = VideoWriter(output, reader.fps, (h, panels * w), overwrite=overwrite, codec=codec, preset=preset,
                             threads=io_threads)
    runner = seg.runner
    keys, key_runs = runner.keys, runner.key_runs

    def emit(frame: np.ndarray, labels: np.ndarray, flow) -> None:  # in the writer thread
        if mode == "labels":
            return writer.write(labels)
        vis = render(mode, frame, labels, pal, alpha)
        writer.write(np.concatenate((vis, flow_panel(flow, reader.size)), axis=1) if show_flow else vis)

    # decoding ahead of the model and rendering + encoding behind it, in threads (pipeline.py); on
    # the CPU the model leaves them a core (two threads of it beside them ran 25% slower on 2 cores)
    t0 = time.perf_counter()
    try:
        torch.set_num_threads(model_threads)
        if split:  # the threads started from here on inherit it
            os.sched_setaffinity(0, split[1])
            cv2.setNumThreads(1)
        with writer:
            with Prefetch(reader, latest=realtime) as frames, Drain(emit) as sink:
                for frame, labels, _ in tqdm(seg.segment_frames(frames, ahead, key_cpus), desc="infer", unit="frame",
                                             disable=not progress):
                    sink.put(frame, labels, runner.last_flow if show_flow else None)
            elapsed = time.perf_counter() - t0  # the writer's read-back check after it is not counted
    finally:
        torch.set_num_threads(before)
        if split:
            os.sched_setaffinity(0, split[0] | split[1])  # all this process's CPUs, as split_cores read them
            cv2.setNumThreads(cv_threads)
    if writer.frames_written + frames.dropped != reader.frames_read:
        raise RuntimeError(f"wrote {writer.frames_written} frames and dropped {frames.dropped} but decoded "
                           f"{reader.frames_read}")
    return {"output": str(Path(output)), "mode": mode, "palette": seg.palette,
            "codec": getattr(writer, "codec", None), "frames_decoded": reader.frames_read,
            "frames_written": writer.frames_written, "frames_dropped": frames.dropped, "size": list(reader.size),
            "fps": reader.fps,
            "key_interval": seg.key_interval, "key_policy": runner.policy.name,
            "key_frames": runner.keys - keys, "key_runs": runner.key_runs - key_runs, "seconds": round(elapsed, 3),
            "fps_processed": writer.frames_written / elapsed if elapsed > 0 else float("inf")}
