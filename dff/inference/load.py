"""`dff.load`: one entry point for programs.

    seg = dff.load("runs/davis/best.pt", key_interval=5)        # a dff checkpoint
    seg = dff.load("torchvision:deeplabv3_mobilenet_v3_large")  # a pretrained segmenter, DIS flow
    for result in seg.stream("video.mp4"):                      # a file, folder, glob, webcam index
        result.index, result.labels, result.is_key              # or an iterable of RGB uint8 arrays
"""
from __future__ import annotations

import copy

import torch.nn as nn

from ..config import DEFAULTS, ConfigError, merge, saved_config, validate
from ..engine.builders import load_trained, model_from_config, select_device
from ..engine.checkpoint import load_checkpoint
from ..models import Segmenter
from ..models.pretrained import key_network_from_module
from .segmenter import VideoSegmenter

# a pretrained segmenter's input size (short side) when none is given: what its weights were trained at
PRETRAINED_SHORT_SIDE = {"torchvision": 520, "hf": 512}


def _apply(cfg: dict, overrides: dict) -> dict:
    """Overrides by bare key name (key_interval=5, flow="dis", short_side=...) into cfg."""
    cfg = copy.deepcopy(cfg)
    for key, value in overrides.items():
        section = next((s for s in ("model", "data") if key in DEFAULTS[s]), None)
        if section is None:
            raise ConfigError(f"dff.load: unknown override {key!r}; valid: device, "
                              f"{', '.join(sorted([*DEFAULTS['model'], *DEFAULTS['data']]))}")
        cfg[section][key] = value
    return validate(cfg, "dff.load: ")


def load(source, **overrides) -> VideoSegmenter:
    """A VideoSegmenter from a dff checkpoint (its saved config), a "torchvision:<name>" or
    "hf:<hub id or folder>" pretrained segmenter (its own weights, DIS flow: no training), or an
    instance of one of those models (torchvision's DeepLabV3, FCN, LRASPP; transformers'
    SegformerForSemanticSegmentation) or of a dff model. A torchvision instance's modules are used,
    not copied: VideoSegmenter's device, eval mode and memory format apply to them.

    overrides: config keys by bare name (key_interval=5, flow="dis", pretrained=None,
    short_side=520, ...) and device ("auto", "cpu", "cuda"); on a dff checkpoint only those that
    leave what the model learned intact (config.trained_model_config).
    """
    overrides = dict(overrides)
    device = select_device(overrides.pop("device", "auto"))
    if isinstance(source, Segmenter):
        cfg = _apply(DEFAULTS, overrides)
        model = source
    elif isinstance(source, nn.Module):  # a torchvision or Hugging Face segmenter, split around its own modules
        cfg = _apply(_pretrained_defaults(_kind_of(source)), overrides)
        kn = key_network_from_module(source)
        model = model_from_config({**cfg, "model": {**cfg["model"], "key_network": kn}}, len(kn.class_names))
    elif str(source).split(":", 1)[0] in PRETRAINED_SHORT_SIDE:
        cfg = _apply(merge(_pretrained_defaults(str(source).split(":", 1)[0]),
                           {"model": {"key_network": str(source)}}), overrides)
        model, _ = load_trained(cfg, None, device)
    else:
        ckpt = load_checkpoint(source)  # its own config; load_trained refuses overrides that change what it learned
        cfg = _apply(saved_config(ckpt, f"{source}: ") or DEFAULTS, overrides)
        model, _ = load_trained(cfg, source, device, ckpt)
    return VideoSegmenter(model, cfg["model"]["key_interval"], cfg["data"]["short_side"], device,
                          model.class_names, model.palette or "voc")


def _kind_of(module: nn.Module) -> str:
    return "hf" if type(module).__name__.startswith("Segformer") else "torchvision"


def _pretrained_defaults(kind: str) -> dict:
    """The config of a pretrained segmenter run without training: its weights, DIS flow, its input size."""
    return merge(DEFAULTS, {"model": {"pretrained": "default", "flow": "dis"},
                            "data": {"short_side": PRETRAINED_SHORT_SIDE[kind]}})
