"""Streaming DFF: frames in, logits out, one key state held (memory constant in video length)."""
from __future__ import annotations

import torch


class StreamSegmenter:
    """Runs the key-frame network every `key_interval` frames and propagates in between.

    Args:
        model: a DFFSegmenter in eval mode.
        key_interval: k; frame i is a key frame when i % k == 0.
    """

    def __init__(self, model, key_interval: int):
        if key_interval < 1:
            raise ValueError(f"key_interval must be >= 1, got {key_interval}")
        self.model, self.key_interval = model, key_interval
        self.state, self.index = None, 0

    def reset(self) -> None:
        """Forget the key state; the next frame is a key frame."""
        self.state, self.index = None, 0

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Logits (1, C, H, W) of frame (1, 3, H, W) in [0, 1], and whether it was a key frame."""
        is_key = self.index % self.key_interval == 0
        self.index += 1
        if is_key:
            self.state = self.model.forward_key(frame)
            return self.model.forward_state(self.state, frame.shape[-2:]), True
        return self.model.forward_propagate(frame, self.state), False
