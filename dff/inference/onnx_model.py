"""Exported graphs (export.py) run by onnxruntime behind dff's model interface, so that the stream,
`VideoSegmenter` and `dff infer --backend onnxruntime` run them as they run a PyTorch model."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..models import Segmenter
from ..models.flow import DISFlow
from ..models.segmenter import State, upsample


@dataclass(frozen=True)
class GraphState(State):
    """A State with the class scores the graph computed beside the features."""

    scores: torch.Tensor | None = None


class OnnxModel(Segmenter):
    """key.onnx and propagate.onnx of an export folder, on onnxruntime's CPU (or given) providers.

    Args:
        folder: what `dff export` wrote (key.onnx, propagate.onnx, export.json).
        providers: onnxruntime execution providers; default CPU.
        threads: intra-op threads (0: onnxruntime's default).
    """

    def __init__(self, folder: str | Path, providers: list[str] | None = None, threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError("--backend onnxruntime needs onnxruntime: pip install \"dff[onnx]\"") from e
        folder = Path(folder)
        path = folder / "export.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; give the folder `dff export` wrote")
        self.info = json.loads(path.read_text())
        super().__init__(self.info["propagation"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        # no busy-waiting between runs: its spinning threads would slow the decoding, resizing and
        # writing that torch and OpenCV do on the same cores around every frame
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = providers or ["CPUExecutionProvider"]
        self.key_graph = ort.InferenceSession(str(folder / "key.onnx"), opts, providers=providers)
        self.propagate_graph = ort.InferenceSession(str(folder / "propagate.onnx"), opts, providers=providers)
        self.size = tuple(self.info["size"])
        self.class_names, self.palette = self.info["class_names"], self.info["palette"]
        self.flow_net = DISFlow(self.info["dis_preset"], self.info["flow_scale"]) if self.info["flow_input"] else None

    def _check(self, frame: torch.Tensor) -> None:
        if tuple(frame.shape) != (1, 3, *self.size):
            raise ValueError(f"the exported graphs take frames (1, 3, {self.size[0]}, {self.size[1]}), got "
                             f"{tuple(frame.shape)}")

    def key(self, frame: torch.Tensor) -> GraphState:
        self._check(frame)
        features, scores = self.key_graph.run(None, {"frame": frame.cpu().numpy()})
        return GraphState(frame, torch.from_numpy(features), None, torch.from_numpy(scores))

    def propagate(self, state: State, frame: torch.Tensor) -> GraphState:
        self._check(frame)
        inputs = {"frame": frame.cpu().numpy(), "key_features": state.features.numpy()}
        if self.flow_net is not None:
            flow = self.flow_net(frame, state.frame, state.features.shape[-2:])[0]
            inputs["flow"] = flow.numpy()
        else:
            inputs["key_frame"] = state.frame.cpu().numpy()
            flow = torch.full((1, 2, *state.features.shape[-2:]), float("nan"))  # inside the graph: not reported
        features, scores = self.propagate_graph.run(None, inputs)
        return GraphState(frame, torch.from_numpy(features), flow, torch.from_numpy(scores))

    def logits(self, state: GraphState, size=None) -> torch.Tensor:
        return state.scores if size is None or tuple(size) == self.size else upsample(state.scores, size)
