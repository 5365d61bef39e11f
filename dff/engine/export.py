"""`dff export`: a trained model as two ONNX graphs and a JSON that says how to run them.

    key.onnx        frame (1, 3, H, W) RGB in [0, 1]          -> features, logits (1, C, H, W)
    propagate.onnx  frame, key_frame, key_features            -> features, logits
                    (a flow that cannot be exported, DIS: frame, key_features, flow -> the same)
    export.json     classes, names, palette, key interval, sizes, opset, inputs

The graphs have the fixed size H x W they were exported at; a runtime resizes frames to it
(inference/onnx_model.py). Opset 17 by default: grid_sample needs >= 16, and TensorRT mis-handles
GridSample at opset 20 (https://github.com/NVIDIA/TensorRT/issues/4646).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from ..io.outputs import MARKER, is_ours, mark, refuse_inputs, remove_stale_temps
from ..io.publish import publish
from ..models import Segmenter
from ..models.flow import DISFlow, OracleFlow
from ..models.segmenter import State
from ..ops.resize import resizes_as_matmul

EXTERNAL_FLOWS = (DISFlow, OracleFlow)  # computed outside the graph: OpenCV, or the dataset's truth


class _Graph(nn.Module):
    """One exported graph of a model."""

    def __init__(self, model: Segmenter):
        super().__init__()
        self.model = model


class KeyGraph(_Graph):
    """The key-frame network: frame -> (features, logits at the frame's size)."""

    def forward(self, frame: torch.Tensor):
        state = self.model.key(frame)
        return state.features, self.model.logits(state)


class PropagateGraph(_Graph):
    """A non-key frame: the key's features carried to frame by the model's own flow network."""

    def forward(self, frame: torch.Tensor, key_frame: torch.Tensor, key_features: torch.Tensor):
        state = self.model.propagate(State(key_frame, key_features), frame)
        return state.features, self.model.logits(state)


class PropagateWithFlow(_Graph):
    """A non-key frame with the flow given (frame -> key, feature-grid pixels, channel 0 = x)."""

    def forward(self, frame: torch.Tensor, key_features: torch.Tensor, flow: torch.Tensor):
        state = State(frame, self.model.warp(key_features, flow, None), flow)
        return state.features, self.model.logits(state)


def _export(module: nn.Module, args: tuple, names: list[str], path: Path, opset: int) -> None:
    module.eval()  # a new wrapper is in training mode, and the exporter may pass that on
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [log.level for log in loggers]
    for log in loggers:  # their notes on converting the exporter's opset 18 down to the one asked for
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(path), input_names=names, output_names=["features", "logits"],
                              opset_version=opset, dynamo=True, external_data=False, verbose=False)
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


def export_onnx(model: Segmenter, out: str | Path, size: tuple[int, int], meta: dict, opset: int = 17) -> dict:
    """Write key.onnx, propagate.onnx and export.json into the folder `out`; the export.json dict.

    Args:
        model: a trained dff model (its flow, if DIS or the oracle, becomes an input).
        size: (H, W) of the frames the graphs take.
        meta: written into export.json beside what export measures (classes, names, palette,
            key_interval, key_policy, short_side, checkpoint).
        opset: ONNX opset, >= 16 (grid_sample).
    """
    if opset < 16:
        raise ValueError(f"--opset {opset}: grid_sample needs opset 16 or later")
    out = Path(out)
    model = model.cpu().eval()
    frame = torch.rand(1, 3, *size)
    flow_input = isinstance(model.flow_net, EXTERNAL_FLOWS)
    with torch.no_grad(), resizes_as_matmul():
        key_state = model.key(frame)  # eager passes first: they fill the resize matrices the graphs hold
        if not flow_input:
            model.propagate(key_state, frame)
        _export(KeyGraph(model), (frame,), ["frame"], out / "key.onnx", opset)
        grid = tuple(key_state.features.shape[-2:])
        if flow_input:
            flow = torch.zeros(1, 2, *grid)
            _export(PropagateWithFlow(model), (frame, key_state.features, flow), ["frame", "key_features", "flow"],
                    out / "propagate.onnx", opset)
        else:
            # distinct tensors: an exporter may alias one tensor passed twice into one input
            _export(PropagateGraph(model), (torch.rand(1, 3, *size), frame, key_state.features),
                    ["frame", "key_frame", "key_features"], out / "propagate.onnx", opset)
    info = {**meta, "size": list(size), "feature_grid": list(grid), "feature_channels": key_state.features.shape[1],
            "opset": opset, "key_inputs": ["frame"],
            "propagate_inputs": ["frame", "key_features", "flow"] if flow_input else ["frame", "key_frame", "key_features"],
            "flow_input": flow_input, "propagation": model.propagation, "flow": type(model.flow_net).__name__}
    if flow_input:
        info["flow_note"] = ("the flow (1, 2, h, w) from frame to key frame in feature-grid pixels (channel 0 = x) is "
                             "an input: computed outside the graph (OpenCV DIS)")
    (out / "export.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def default_size(short_side: int) -> tuple[int, int]:
    """Landscape 16:9 at the model's short side (240 -> 240 x 427, as 960 x 540 video resizes)."""
    return short_side, round(short_side * 16 / 9)


def export_checkpoint(model: Segmenter, cfg: dict, checkpoint: str, classes: tuple[list[str], str], out: str | Path,
                      size: tuple[int, int] | None = None, opset: int = 17, overwrite: bool = False) -> dict:
    """`dff export`: export_onnx of a trained model into the folder `out`, written beside it and
    swapped in whole; an existing folder only with overwrite, and only one dff wrote. classes: its
    class names and palette name (builders.classes_of)."""
    out = Path(out)
    refuse_inputs(out, {"checkpoint": checkpoint})
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise FileExistsError(f"{out}: already exists; pass --overwrite to replace it")
        if not out.is_dir() or not is_ours(out):
            raise FileExistsError(f"{out}: is not a folder dff wrote (no {MARKER}); not replacing it")
    m, (class_names, palette) = cfg["model"], classes
    meta = {"checkpoint": str(checkpoint), "num_classes": len(class_names), "class_names": class_names,
            "palette": palette, "arch": m["arch"], "key_interval": m["key_interval"], "key_policy": m["key_policy"],
            "short_side": cfg["data"]["short_side"], "flow_scale": m["flow_scale"], "dis_preset": m["dis_preset"]}
    remove_stale_temps(out.parent, out.name)
    with publish(out, folder=True) as tmp:
        info = export_onnx(model, tmp, size or default_size(cfg["data"]["short_side"]), meta, opset)
        mark(tmp)
    return info
