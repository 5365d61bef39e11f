"""From a config dict to the objects train, eval, infer and bench need."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import ConfigError, load_config, saved_config, trained_model_config
from ..data.datasets import build_clips, class_names, label_lut, spec
from ..data.flow_pairs import read_ground_truth
from ..data.labels import lut_reader
from ..data.store import FrameStore
from ..models import build_model
from ..models.flow import OracleFlow
from ..models.pretrained import key_network_classes
from .checkpoint import load_checkpoint, load_weights


def select_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available; a device this machine lacks is a ValueError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r}: not a device; valid: auto, cpu, cuda, cuda:<index>, mps") from None
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"--device {name}: no such CUDA device here "
                         f"({torch.cuda.device_count()} CUDA devices; --device cpu or auto)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS is not available here (--device cpu or auto)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {name!r}: unsupported device type; valid: auto, cpu, cuda, cuda:<index>, mps")
    return dev


def num_classes_of(cfg: dict) -> int:
    """model.num_classes, or a pretrained key network's class count, or the dataset's."""
    m, d = cfg["model"], cfg["data"]
    if m["num_classes"] is not None:
        return int(m["num_classes"])
    own = key_network_classes(m["key_network"], m["pretrained"] == "default") if m["key_network"] else None
    return len(own) if own is not None else len(class_names(d["dataset"], d["root"], d["num_classes"]))


def clips_of(cfg: dict, split: str) -> list:
    """Clips of a split of the configured dataset."""
    d = cfg["data"]
    return build_clips(d["dataset"], d["root"], split, d["split_mode"], d["train_fraction"], d["context_frames"],
                       d["cityscapes_labels"], cfg["model"]["key_interval"])


def label_lut_of(cfg: dict):
    """The configured dataset's raw label value -> class id table."""
    d = cfg["data"]
    return label_lut(d["dataset"], num_classes_of(cfg), d["ignore_index"], d["label_map"], d["cityscapes_labels"])


def load_split(cfg: dict, split: str) -> FrameStore:
    """Decode a split of the configured dataset into memory."""
    d = cfg["data"]
    return FrameStore(clips_of(cfg, split), d["short_side"], lut_reader(label_lut_of(cfg)), d["ignore_index"])


def model_from_config(cfg: dict, num_classes: int):
    """DFFSegmenter from the config's model section."""
    skip = ("key_interval", "key_policy", "num_classes", "load_from", "load_modules")
    kwargs = {k: v for k, v in cfg["model"].items() if k not in skip}
    return build_model(num_classes=num_classes, **kwargs)


def attach_ground_truth_flow(model, store: FrameStore) -> None:
    """Give an oracle flow net the split's ground-truth flow (synthetic layout: flow/NNNNN.flo,
    resized to the stored frames' grid). No-op for other flow nets."""
    if not isinstance(model.flow_net, OracleFlow):
        return
    for c, truth in enumerate(read_ground_truth(store)):
        model.flow_net.add_clip(store.frames[c], {i: t[:2] for i, t in truth.items()})


def has_own_weights(cfg: dict) -> bool:
    """Whether the config names a complete pretrained model: a key network with its weights (a
    torchvision one with model.pretrained=default, or hf:) and a flow that needs no training."""
    m = cfg["model"]
    own = bool(m["key_network"]) and (m["key_network"].startswith("hf:") or m["pretrained"] == "default")
    return own and m["flow"] in ("dis", "zero") and m["arch"] == "dff"


def run_config(config: str | Path | None, overrides: list[str], checkpoint: str | Path | None
               ) -> tuple[dict, dict | None]:
    """(config, checkpoint dict or None) of eval, infer and bench. With a checkpoint the trained
    model's own config, which CONFIG and the overrides may change only in how it runs and on what
    data (config.trained_model_config); without, CONFIG (a complete pretrained model, or a flow
    that needs no training)."""
    given = load_config(config, overrides)  # config errors come before reading a checkpoint
    if checkpoint is None:
        if config is None:
            raise ConfigError("give a CONFIG, or the --checkpoint of a trained model (it holds its config)")
        return given, None
    ckpt = load_checkpoint(checkpoint)
    saved = saved_config(ckpt, f"{checkpoint}: ")
    if saved is None:  # a checkpoint without its config: CONFIG is all there is
        if config is None:
            raise ConfigError(f"{checkpoint}: holds no config; give the CONFIG it was trained with")
        return given, ckpt
    if config is None:
        given = load_config(None, overrides, base=saved)
    return trained_model_config(saved, given, int(ckpt["num_classes"]), f"{checkpoint}: "), ckpt


def check_classes(cfg: dict, num_classes: int) -> None:
    """Labelled data must have the model's classes: a 7-class model on 4-class data is an error
    (a dataset that does not know its class count, or has no labels, is not checked)."""
    d = cfg["data"]
    if d["dataset"] == "video" or (d["dataset"] == "folder" and d["num_classes"] is None):
        return
    data_classes = len(class_names(d["dataset"], d["root"], d["num_classes"]))
    if data_classes != num_classes:
        raise ValueError(f"the model predicts {num_classes} classes but the data ({d['dataset']} at {d['root']}) "
                         f"has {data_classes}")


def load_trained(cfg: dict, checkpoint: str | Path | None, device: torch.device, ckpt: dict | None = None):
    """(model, checkpoint dict): the model built from cfg with a checkpoint's weights (num_classes
    from the checkpoint), or, with checkpoint None, a pretrained key network's own (has_own_weights).
    ckpt: the checkpoint already read from `checkpoint` (not read again).

    The model is built from the checkpoint's own config: cfg may change only how it runs
    (config.trained_model_config; anything else is a ConfigError). When cfg swaps the flow for one
    that needs no training (model.flow=dis on a flownets_lite model, say), the flow net's tensors
    are not loaded and the swap is reported; every other tensor must fit exactly.
    """
    if checkpoint is None:
        if not has_own_weights(cfg):
            raise ValueError("no checkpoint given, and the config names no complete pretrained model "
                             "(model.key_network torchvision:<name> with model.pretrained=default, or hf:<id>, with "
                             "model.flow=dis; see configs/pretrained/)")
        num_classes = num_classes_of(cfg)
        return model_from_config(cfg, num_classes).to(device).eval(), {"num_classes": num_classes, "config": cfg}
    ckpt = ckpt or load_checkpoint(checkpoint)
    num_classes = int(ckpt.get("num_classes") or num_classes_of(cfg))
    saved = saved_config(ckpt, f"{checkpoint}: ")
    if saved is not None:  # what cfg may change on the trained model (run_config has applied it already)
        cfg = trained_model_config(saved, cfg, num_classes, f"{checkpoint}: ")
    model = model_from_config(cfg, num_classes)
    trained_flow = saved["model"]["flow"] if saved is not None else cfg["model"]["flow"]
    swapped = trained_flow != cfg["model"]["flow"]
    load_weights(model, ckpt, checkpoint, skip="flow_net" if swapped else None)
    if swapped:
        dropped = sum(k.startswith("flow_net.") for k in ckpt["model"])
        print(f"flow network swapped: checkpoint trained with {trained_flow!r}, running "
              f"{cfg['model']['flow']!r} ({dropped} checkpoint flow tensors not loaded, the new flow "
              f"net's {sum(k.startswith('flow_net.') for k in model.state_dict())} at their initial values)")
    # checkpoints since class names were saved carry them; older ones: the dataset's palette
    model.class_names = ckpt.get("class_names", model.class_names)
    model.palette = ckpt.get("palette", model.palette or spec(cfg["data"]["dataset"]).palette)
    return model.to(device).eval(), ckpt


def classes_of(cfg: dict, model) -> tuple[list[str], str]:
    """(class names, palette name) of a model: a pretrained key network's, else the dataset's
    (generic names when the model has another class count than the dataset)."""
    if model.class_names is not None:
        return list(model.class_names), model.palette
    d, n = cfg["data"], int(cfg["model"]["num_classes"] or num_classes_of(cfg))
    names = class_names(d["dataset"], d["root"], d["num_classes"] or n)  # a dataset that names none: n
    return (names if len(names) == n else [f"class{i}" for i in range(n)]), spec(d["dataset"]).palette
