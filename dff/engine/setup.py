"""From a config dict to the objects train/eval/infer need."""
from __future__ import annotations

from functools import partial

import torch

from ..data.datasets import FrameStore
from ..data.sequences import build_clips, dataset_info, davis_label, plain_label
from ..models import build_model
from .checkpoint import load_checkpoint


def select_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def num_classes_of(cfg: dict) -> int:
    """model.num_classes, or the dataset's class count when null."""
    n = cfg["model"]["num_classes"]
    return int(n) if n is not None else dataset_info(cfg["data"]["dataset"], cfg["data"]["root"])["num_classes"]


def load_split(cfg: dict, split: str) -> FrameStore:
    """Decode a split of the configured dataset into memory."""
    d = cfg["data"]
    clips = build_clips(d["dataset"], d["root"], split, d["split_mode"], d["train_fraction"])
    if d["dataset"] == "davis":
        reader = davis_label
    else:
        reader = partial(plain_label, num_classes=num_classes_of(cfg), ignore_index=d["ignore_index"])
    return FrameStore(clips, d["short_side"], reader, d["ignore_index"])


def model_from_config(cfg: dict, num_classes: int):
    """DFFSegmenter from the config's model section."""
    skip = ("key_interval", "key_policy", "key_threshold", "num_classes")
    kwargs = {k: v for k, v in cfg["model"].items() if k not in skip}
    return build_model(num_classes=num_classes, **kwargs)


def load_trained(cfg: dict, checkpoint: str, device: torch.device):
    """Model built from cfg with a checkpoint's weights (num_classes from the checkpoint).

    When cfg names another flow network than the checkpoint was trained with (model.flow=dis
    on a flownets_lite model, say), the flow net's tensors are not loaded and the swap is
    reported; every other tensor must fit exactly.
    """
    ckpt = load_checkpoint(checkpoint)
    num_classes = int(ckpt.get("num_classes") or num_classes_of(cfg))
    model = model_from_config(cfg, num_classes)
    trained_flow = ckpt.get("config", {}).get("model", {}).get("flow", cfg["model"]["flow"])
    swapped = trained_flow != cfg["model"]["flow"]
    state = {k: v for k, v in ckpt["model"].items() if not (swapped and k.startswith("flow_net."))}
    try:
        missing, unexpected = model.load_state_dict(state, strict=not swapped)
    except RuntimeError as e:
        raise ValueError(f"{checkpoint}: weights do not fit the configured model ({e})") from e
    if swapped:
        bad = [k for k in missing + unexpected if not k.startswith("flow_net.")]
        if bad:
            raise ValueError(f"{checkpoint}: weights do not fit the configured model "
                             f"(missing or unexpected: {', '.join(bad[:8])})")
        dropped = sum(k.startswith("flow_net.") for k in ckpt["model"])
        print(f"flow network swapped: checkpoint trained with {trained_flow!r}, running "
              f"{cfg['model']['flow']!r} ({dropped} checkpoint flow tensors not loaded, "
              f"{len(missing)} parameters of the new flow net at their initial values)")
    return model.to(device).eval(), ckpt
