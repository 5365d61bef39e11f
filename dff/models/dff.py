"""DFF: a heavy key-frame network whose features are carried to other frames by flow."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..ops import flow_warp
from .normalize import Normalize
from .segmenter import Segmenter, State, upsample


class DFFSegmenter(Segmenter):
    """Deep Feature Flow for semantic segmentation (Zhu et al., CVPR 2017).

    key frame:   features = feature_conv(backbone(key));  logits = head(features)
    other frame: flow, scale = flow_net(current, key);  logits = head(warp(features, flow) * scale)

    Built from injected parts (build.py assembles dff's own; pretrained.py splits a torchvision or
    Hugging Face segmenter into them, so that its key frames give exactly its own output).

    Args:
        backbone: module mapping ImageNet-normalised frames to features.
        feature_conv: features to the tensor that is warped (nn.Identity when the backbone ends there).
        flow_net: a FlowNet (models/flow/base.py states its contract).
        head: warped features to class scores on the feature grid.
        padding_mode: grid_sample padding of the warp, "zeros" or "border".
        propagation: "direct" (key -> every frame) or "chained" (frame -> frame).
        refine: takes the scores from the feature grid to the output size guided by the frame,
            refine(scores, frame, size) (refine.GuidedRefine); None: bilinear upsampling.
        key_flip: in eval mode, key frames average the features of the frame and of its mirror
            image (flipped back): test-time flip averaging at twice the key network's cost, which
            the propagated frames inherit. Training is unaffected.
    """

    branches = {"reference": ("backbone", "feature_conv", "head")}

    def __init__(self, backbone: nn.Module, feature_conv: nn.Module, flow_net: nn.Module, head: nn.Module,
                 padding_mode: str = "border", propagation: str = "direct", refine: nn.Module | None = None,
                 key_flip: bool = False):
        super().__init__(propagation)
        self.backbone = backbone
        self.feature_conv = feature_conv
        self.flow_net = flow_net
        self.head = head
        self.padding_mode = padding_mode
        self.normalize = Normalize()
        self.refine = refine
        self.key_flip = key_flip
        if refine is not None:  # part of the key network's output (per-frame training, distill's teacher)
            self.branches = {**self.branches, "reference": (*self.branches["reference"], "refine")}

    def key_input(self, frame: torch.Tensor) -> torch.Tensor:
        """The batch the backbone runs on for key frames (what `dff bench` times it on): the
        normalised frames, followed by their mirror images when key_flip applies (eval mode)."""
        x = self.normalize(frame)
        return torch.cat([x, x.flip(-1)]) if self.key_flip and not self.training else x

    def key(self, frame: torch.Tensor) -> State:
        """The heavy path: backbone + feature conv (with key_flip, the mirror's features averaged in)."""
        features = self.feature_conv(self.backbone(self.key_input(frame)))
        n = frame.shape[0]
        if features.shape[0] > n:  # slices, not chunk: torch.onnx writes chunk as an opset-18 Split at opset 17
            features = (features[:n] + features[n:].flip(-1)) / 2
        return State(frame, features)

    def warp(self, features: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        """Features warped by flow (feature-grid pixels), times the scale field."""
        warped = flow_warp(features, flow, padding_mode=self.padding_mode)
        return warped if scale is None else warped * scale

    def propagate(self, state: State, frame: torch.Tensor) -> State:
        """The state's features carried to frame: flow frame -> state.frame, one warp."""
        flow, scale = self.flow_net(frame, state.frame, state.features.shape[-2:])
        return State(frame, self.warp(state.features, flow, scale), flow)

    def _decode(self, state: State) -> torch.Tensor:
        """Class scores of a propagated state on the feature grid (Accel fuses here)."""
        return self.head(state.features)

    def _to_size(self, scores: torch.Tensor, frame: torch.Tensor, size) -> torch.Tensor:
        """Scores on the feature grid to `size`: bilinear, or refined along the frame's edges."""
        return upsample(scores, size) if self.refine is None else self.refine(scores, frame, size)

    def logits(self, state: State, size=None) -> torch.Tensor:
        """Key frames: the head on the key's features; propagated frames: `_decode`."""
        scores = self.head(state.features) if state.is_key else self._decode(state)
        return self._to_size(scores, state.frame, state.frame.shape[-2:] if size is None else size)

    def branch_logits(self, name: str, frame: torch.Tensor) -> torch.Tensor:
        """The reference branch (the key network) on the frame alone."""
        return self.logits(self.key(frame))

    def forward(self, clip: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """Training forward on windows clip (N, T, 3, H, W): key clip[:, 0], current clip[:, -1].

        offset (N,) counts the frames between key and current; windows whose key lies closer
        than T - 1 frames are front-padded with copies of the key. Direct propagation warps
        the key features once; chained warps through every frame of the window (a padded
        step is between two copies of the key). Where offset is 0 the key features are used
        unwarped, as on key frames; flow and warp still run on every sample so every parameter
        sees a gradient path each step.
        """
        current = clip[:, -1]
        key_state = state = self.key(clip[:, 0])
        steps = range(clip.shape[1] - 1, clip.shape[1]) if self.propagation == "direct" else range(1, clip.shape[1])
        for i in steps:
            state = self.propagate(state, clip[:, i])
        same = (offset == 0).view(-1, 1, 1, 1)
        key_scores = self.head(key_state.features)
        return self._to_size(torch.where(same, key_scores, self._decode(state)), current, current.shape[-2:])
