"""What training optimises: the model's outputs per loss term, and their cross-entropy."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config import ConfigError

OBJECTIVES = ("propagated", "per_frame")


class TrainForward(nn.Module):
    """The training forward as one module (what DDP wraps): logits per loss term.

    propagated: {"ce": output at the sampled key offset}; per_frame: {branch name: logits of
    that branch on the current frame}, skipping branches that train.freeze fixed entirely (no
    wasted forward passes).
    """

    def __init__(self, model: nn.Module, objective: str):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ConfigError(f"unknown train.objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
        self.model, self.objective = model, objective
        self.names = []
        if objective == "per_frame":
            self.names = [n for n, mods in model.branches.items()
                          if any(p.requires_grad for m in mods for p in model.get_submodule(m).parameters())]
            if not self.names:
                raise ConfigError("train.objective per_frame: every branch is frozen")

    def forward(self, clip: torch.Tensor, offset: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per loss term for windows clip (N, T, 3, H, W) at key offsets (N,)."""
        if self.objective == "propagated":
            return {"ce": self.model(clip, offset)}
        frame = clip[:, -1]
        return {n: self.model.branch_logits(n, frame) for n in self.names}


def pixel_ce(logits: torch.Tensor, label: torch.Tensor, ignore_index: int, total: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over labelled pixels, divided by `total` labelled pixels.

    With total counted over every micro-batch of every process, the gradients that DDP averages
    and accumulation sums give the exact mean over the whole step's pixels; a batch without a
    labelled pixel gives 0, not NaN (as mean reduction would).
    """
    ce = F.cross_entropy(logits.float(), label, ignore_index=ignore_index, reduction="sum")
    return ce / total.clamp(min=1)


def unused_parameters(forward: TrainForward, crop_size, window: int) -> list[str]:
    """Names of trainable parameters that the objective's graph does not reach.

    Probed with one forward on a zero batch with key offsets 0 and 1, in eval mode (no BatchNorm
    statistics change; dropout and BatchNorm do not change which parameters are reached).
    """
    model = forward.model
    was_training = model.training
    p = next(model.parameters())
    clip = torch.zeros(2, window, 3, *crop_size, device=p.device)
    offset = torch.tensor([0, min(1, window - 1)], device=p.device)
    model.eval()
    try:
        with torch.enable_grad():
            outs = forward(clip, offset)
        reached, stack, seen = set(), [o.grad_fn for o in outs.values()], set()
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            if hasattr(fn, "variable"):  # AccumulateGrad: a leaf tensor
                reached.add(id(fn.variable))
            stack.extend(f for f, _ in fn.next_functions)
    finally:
        model.train(was_training)
    return [n for n, q in model.named_parameters() if q.requires_grad and id(q) not in reached]
