"""What training optimises, one object per `train.objective`: what it keeps fixed, the data it
trains and validates on, its loss terms (each a sum over pixels that the step divides by
`count`) and the score best.pt is chosen by.

propagated and per_frame: cross-entropy against labels; flow: FlowNet's multi-scale end-point
error against ground-truth flow (flow net alone, synthetic sets); distill: the propagated output
against the frozen key network's own output on the current frame (no labels needed).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ...config import ConfigError
from ...data.flow_pairs import FlowPairDataset, read_ground_truth
from ...data.pairs import PairDataset
from ...models.flow import FlowNetSLite
from ...ops import resize_flow
from ..evaluate import check_distances, evaluate
from ..flow_epe import evaluate_flow, format_flow

# Weights of the flow pyramid's levels, coarse to fine (each level's term is its mean EPE in frame
# pixels): the finest level is the flow DFF uses, the coarser ones guide it early in training.
FLOW_LEVEL_WEIGHTS = (0.125, 0.25, 0.5, 1.0)


class Objective:
    """A training objective. Subclasses name themselves (`name`, as train.objective says it) and
    give their loss terms; the defaults are those of training on labelled windows.

    Args:
        ignore_index: label value that carries no loss (cross-entropy objectives).
        temperature: distill: softmax temperature of teacher and student (the loss is scaled by
            its square, as in Hinton et al., so gradients keep their size).
        lovasz_weight: propagated and per_frame: a Lovasz-softmax term of this weight beside each
            cross-entropy ("lovasz" / "<branch>_lovasz"); 0 for none.
    """

    name = ""
    pairs = False  # (key, current) windows whatever the propagation: no frame between is used
    flow_only = False  # trains and scores the flow network alone (`dff eval`: its end-point error)
    best = "mean mIoU over key distances"  # what best.pt is chosen by, in words

    def __init__(self, ignore_index: int = 255, temperature: float = 1.0, lovasz_weight: float = 0.0):
        if not temperature > 0:
            raise ConfigError(f"train.distill_temperature must be > 0, got {temperature}")
        if lovasz_weight < 0:
            raise ConfigError(f"train.lovasz_weight must be >= 0, got {lovasz_weight}")
        self.ignore_index, self.temperature, self.lovasz_weight = ignore_index, float(temperature), float(lovasz_weight)

    def bind(self, model: nn.Module) -> None:
        """Check the model this objective trains (after train.freeze)."""

    def teacher(self, model: nn.Module) -> tuple[str, ...]:
        """Top-level modules kept fixed besides train.freeze."""
        return ()

    def pair_only(self, propagation: str) -> bool:
        """Whether training windows are (key, current) pairs: no frame between them is used."""
        return self.pairs or propagation == "direct"

    def window(self, propagation: str, key_interval: int) -> int:
        """Frames per training window."""
        return 2 if self.pair_only(propagation) else key_interval

    def train_set(self, store, cfg: dict):
        """The training samples of a store: (window, labels, key offset)."""
        d, k = cfg["data"], cfg["model"]["key_interval"]
        return PairDataset(store, k - 1, d["crop_size"], d["ignore_index"], d["scale_range"],
                           pair_only=self.pair_only(cfg["model"]["propagation"]), seed=cfg["train"]["seed"],
                           jitter=d["jitter"])

    def val_set(self, store, key_interval: int):
        """What validate scores, from the val store (checked before the train split is decoded)."""
        check_distances(store, key_interval)
        return store

    def count(self, target: torch.Tensor) -> torch.Tensor:
        """What the sums of a batch are divided by: its labelled pixels."""
        return (target != self.ignore_index).sum()

    def terms(self, model: nn.Module, clip: torch.Tensor, target: torch.Tensor,
              offset: torch.Tensor) -> dict[str, torch.Tensor]:
        """Summed loss per term for windows clip (N, T, 3, H, W) (key first, current last) at key
        offsets (N,)."""
        raise NotImplementedError

    def probe_target(self, n: int, crop_size) -> torch.Tensor:
        """A zero target of the objective's kind (n samples), for probing which parameters it reaches."""
        return torch.zeros(n, *crop_size, dtype=torch.long)

    def validate(self, model, val, cfg: dict, num_classes: int, done: int, dev) -> tuple[dict, float]:
        """Evaluate on val frames; (results, the score best.pt is chosen by)."""
        k, res = cfg["model"]["key_interval"], self._evaluate(model, val, cfg, num_classes, dev)
        tqdm.write(f"iter {done} val: per-frame {res['per_frame_miou']:.4f}  {res['model']} mean k={k} "
                   f"{res['mean_miou']:.4f}" + (f"  update alone {res['update_miou']:.4f}" if "update_miou" in res
                                               else ""))
        return res, self.metric(res)

    def metric(self, res: dict) -> float:
        return res["mean_miou"]

    def _evaluate(self, model, val, cfg: dict, num_classes: int, dev, against_teacher: bool = False) -> dict:
        """evaluate() of the val frames as training validates (train.val_frames of them)."""
        return evaluate(model, val, cfg["model"]["key_interval"], num_classes, cfg["data"]["ignore_index"],
                        max_frames=cfg["train"]["val_frames"], device=dev, against_teacher=against_teacher)

    def label_terms(self, name: str, logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """{name: cross-entropy sum} and, with a Lovasz weight, {name_lovasz: the per-image Lovasz
        losses' sum scaled by labelled pixels per image, so that after the step's division by the
        labelled pixels it is their mean over images}."""
        terms = {name: pixel_ce(logits, target, self.ignore_index)}
        if self.lovasz_weight > 0:
            per_image = self.count(target) / target.shape[0]
            terms[f"{name}_lovasz"] = self.lovasz_weight * lovasz_softmax(logits, target, self.ignore_index) * per_image
        return terms


class Propagated(Objective):
    """{"ce": cross-entropy of the output at the sampled key offset}."""

    name = "propagated"

    def terms(self, model, clip, target, offset):
        return self.label_terms("ce", model(clip, offset), target)


class PerFrame(Objective):
    """{branch name: that branch on the current frame}, skipping branches that train.freeze fixed
    entirely; best.pt by per-frame mIoU (for Accel averaged with the update branch alone's)."""

    name = "per_frame"
    pairs = True
    best = "per-frame mIoU (averaged with the update branch alone for accel)"

    def bind(self, model):
        self.names = [n for n, mods in model.branches.items()
                      if any(p.requires_grad for m in mods for p in model.get_submodule(m).parameters())]
        if not self.names:
            raise ConfigError("train.objective per_frame: every branch is frozen")

    def terms(self, model, clip, target, offset):
        frame, terms = clip[:, -1], {}
        for n in self.names:
            terms.update(self.label_terms(n, model.branch_logits(n, frame), target))
        return terms

    def metric(self, res):
        return (res["per_frame_miou"] + res["update_miou"]) / 2 if "update_miou" in res else res["per_frame_miou"]


class Flow(Objective):
    """{"epe<level>": ...}: the flow network alone against ground-truth flow; targets (N, 3, H, W)
    = u, v, valid; best.pt by val end-point error."""

    name = "flow"
    pairs = flow_only = True
    best = "end-point error, minus"

    def bind(self, model):
        if not isinstance(model.flow_net, FlowNetSLite):
            raise ConfigError("train.objective flow trains model.flow=flownets_lite (its multi-scale flow), "
                              f"not {type(model.flow_net).__name__}")

    def train_set(self, store, cfg):
        return FlowPairDataset(store, read_ground_truth(store), cfg["data"]["crop_size"], seed=cfg["train"]["seed"],
                               jitter=cfg["data"]["jitter"])

    def val_set(self, store, key_interval):
        return store, read_ground_truth(store)

    def count(self, target):
        return target[:, 2].sum()  # valid flow pixels

    def terms(self, model, clip, target, offset):
        return flow_epe_terms(model.flow_net.pyramid(clip[:, -1], clip[:, 0]), target)

    def probe_target(self, n, crop_size):
        return torch.zeros(n, 3, *crop_size)

    def validate(self, model, val, cfg, num_classes, done, dev):
        res = evaluate_flow(model.flow_net, *val, device=dev)
        tqdm.write(f"iter {done} val: " + format_flow(res, model.flow_net.__class__.__name__))
        return res, -res["epe"]


class Distill(Objective):
    """{"kd": KL divergence of the propagated output from the key network's own output on the
    current frame, at `temperature`}: no labels; the key network, the teacher, stays fixed."""

    name = "distill"
    best = "mean agreement with the key network over key distances"

    def teacher(self, model):
        return tuple(model.branches["reference"])

    def count(self, target):  # target: the (unused) labels, one per output pixel
        return torch.tensor(float(target.numel()), device=target.device)

    def terms(self, model, clip, target, offset):
        with torch.no_grad():
            teacher = model.branch_logits("reference", clip[:, -1])
        return {"kd": soft_kl(model(clip, offset), teacher, self.temperature)}

    def validate(self, model, val, cfg, num_classes, done, dev):
        k, res = cfg["model"]["key_interval"], self._evaluate(model, val, cfg, num_classes, dev, against_teacher=True)
        tqdm.write(f"iter {done} val: agreement with the key network mean k={k} {res['mean_agreement']:.4f}"
                   + ("" if res["mean_miou"] is None else f"  mIoU mean k={k} {res['mean_miou']:.4f}"))
        return res, res["mean_agreement"]


OBJECTIVES = {o.name: o for o in (Propagated, PerFrame, Flow, Distill)}


def build_objective(name: str, ignore_index: int = 255, temperature: float = 1.0,
                    lovasz_weight: float = 0.0) -> Objective:
    """The objective called `name` (one of OBJECTIVES)."""
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown train.objective {name!r}; valid: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name](ignore_index, temperature, lovasz_weight)


class TrainForward(nn.Module):
    """The training forward as one module (what DDP wraps): the objective's summed loss per term.

    Args:
        model: the segmenter.
        objective: an Objective, or its name (built with the other arguments, as build_objective).
    """

    def __init__(self, model: nn.Module, objective: Objective | str, ignore_index: int = 255,
                 temperature: float = 1.0, lovasz_weight: float = 0.0):
        super().__init__()
        if isinstance(objective, str):
            objective = build_objective(objective, ignore_index, temperature, lovasz_weight)
        objective.bind(model)
        self.model, self.objective = model, objective
        self.count = objective.count

    def forward(self, clip: torch.Tensor, target: torch.Tensor, offset: torch.Tensor) -> dict[str, torch.Tensor]:
        """Summed loss per term for windows clip (N, T, 3, H, W) (key first, current last) at key
        offsets (N,); target: labels (N, H, W), or for flow (N, 3, H, W) = u, v, valid."""
        return self.objective.terms(self.model, clip, target, offset)


def lovasz_softmax(logits: torch.Tensor, label: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Lovasz-softmax loss (Berman, Triki and Blaschko, CVPR 2018) summed over the images of a batch.

    Per image and per class present in its labels: the pixels' errors |[y = c] - p_c|, sorted
    descending, dotted with the steps of the Jaccard loss as the errors are taken in that order;
    the convex extension of 1 - IoU, equal to it for hard 0/1 probabilities. Averaged over the
    image's present classes; ignored pixels and images without labels contribute nothing.
    """
    probs = logits.float().softmax(1)
    total = probs.new_zeros(())
    for p, y in zip(probs, label):
        keep = y != ignore_index
        p, y = p[:, keep], y[keep]
        if y.numel() == 0:
            continue
        per_class = []
        for c in y.unique():
            fg = (y == c).float()
            errors, order = (fg - p[c]).abs().sort(descending=True)
            fg = fg[order]
            jaccard = 1 - (fg.sum() - fg.cumsum(0)) / (fg.sum() + (1 - fg).cumsum(0))
            per_class.append(errors @ torch.cat((jaccard[:1], jaccard[1:] - jaccard[:-1])))
        total = total + torch.stack(per_class).mean()
    return total


def pixel_ce(logits: torch.Tensor, label: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Cross-entropy summed over labelled pixels.

    The step divides it by the labelled pixels of every micro-batch of every process, so the
    gradients that DDP averages and accumulation sums give the exact mean over the whole step's
    pixels; a batch without a labelled pixel gives 0, not NaN (as mean reduction would).
    """
    return F.cross_entropy(logits.float(), label, ignore_index=ignore_index, reduction="sum")


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) of the class distributions at `temperature`, summed over pixels,
    times temperature squared."""
    t = temperature
    log_p = F.log_softmax(teacher.float() / t, 1)
    log_q = F.log_softmax(student.float() / t, 1)
    return (log_p.exp() * (log_p - log_q)).sum() * t * t


def flow_epe_terms(pyramid: list[torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
    """FlowNet's multi-scale end-point error, masked by the valid (non-occluded) pixels.

    The ground truth (u, v in frame pixels) is area-downsampled to each level's grid; both flows
    are compared in frame pixels. A level's sum is scaled by (frame pixels / level pixels), so
    after division by the valid frame pixels each term is that level's mean EPE (times its weight).
    """
    flow, valid = target[:, :2].float(), target[:, 2:3].float()
    h, w = flow.shape[-2:]
    terms = {}
    for level, (pred, weight) in enumerate(zip(pyramid, FLOW_LEVEL_WEIGHTS[-len(pyramid):])):
        size = tuple(pred.shape[-2:])
        truth = resize_flow(flow, size)
        mask = F.interpolate(valid, size=size, mode="area") if size != (h, w) else valid
        to_frame = torch.tensor([w / size[1], h / size[0]], device=pred.device).view(1, 2, 1, 1)
        epe = ((pred.float() - truth) * to_frame).norm(dim=1, keepdim=True)
        terms[f"epe{len(pyramid) - level + 1}"] = (epe * mask).sum() * (h * w / (size[0] * size[1])) * weight
    return terms


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
            outs = forward(clip, forward.objective.probe_target(2, crop_size).to(p.device), offset)
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
