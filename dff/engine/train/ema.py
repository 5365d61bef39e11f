"""An exponential moving average of the weights (train.ema), the model that is validated and saved.

Short fine-tuning runs end on weights that still move with every batch; their average over the
last few hundred steps scores steadier (Polyak averaging; timm's ModelEmaV2). BatchNorm running
statistics are averaged with the weights: the averaged weights need statistics of their own.
"""
from __future__ import annotations

import copy

import torch


class WeightAverage:
    """A copy of `model` whose floating-point tensors follow `decay * own + (1 - decay) * model's`
    after every update (integer buffers are copied). The decay ramps up as (1 + n) / (10 + n) over
    the first updates, so the average does not remember the initial weights for long.

    Args:
        model: the trained module (not a DDP wrapper); copied, never modified.
        decay: the factor of the average per update, in (0, 1): 0.995 averages over about 200 steps.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"train.ema must lie in (0, 1), got {decay}")
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """One step of the average towards model's current weights."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        own = self.model.state_dict()
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                own[name].lerp_(value, 1 - d)
            else:
                own[name].copy_(value)

    def restore(self, weights: dict, updates: int) -> None:
        """Continue an average saved as `weights` after `updates` updates (--resume)."""
        self.model.load_state_dict(weights)
        self.updates = updates
