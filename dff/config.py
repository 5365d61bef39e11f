"""YAML configs: defaults, `key=value` overrides, strict validation. Configs are plain dicts."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads exponent floats without a dot (1e-3) and booleans as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))
# YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no as booleans, which would
# turn `train.amp: off` into False.
for _first, _resolvers in _Loader.yaml_implicit_resolvers.items():
    _Loader.yaml_implicit_resolvers[_first] = [r for r in _resolvers if r[0] != "tag:yaml.org,2002:bool"]
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def yaml_load(text: str):
    """Parse YAML text with _Loader."""
    return yaml.load(text, Loader=_Loader)

# Every valid key with its default. A YAML file only supplies values for these keys.
DEFAULTS: dict = {
    "data": {
        "dataset": "davis",          # davis | synthetic | cityscapes | camvid | folder (layouts: README)
        "root": "../shared/data/davis2016-mini",
        "split_mode": "temporal",    # temporal | sequences
        "train_fraction": 0.6,       # temporal split: first fraction of every sequence trains
        "short_side": 240,           # frames (and labels, nearest) resized so the short side is this
        "crop_size": [224, 224],     # training crop (h, w), the same on key and current frame
        "scale_range": [1.0, 1.0],   # training: random resize factor before the crop
        "jitter": 0.0,               # training: colour jitter, brightness/contrast/saturation +-this, one draw per clip
        "ignore_index": 255,         # label value not scored (0..255); void classes map to it
        "context_frames": None,      # frames kept before each sparse label (null: key_interval - 1; folder: whole sequences)
        "cityscapes_labels": "labelIds",  # cityscapes: labelIds (mapped to 19 trainIds) | labelTrainIds
        "num_classes": None,         # folder: number of classes (required there; others know theirs)
        "label_map": None,           # folder: {raw value: class id}; unlisted values are errors (null: raw = class id)
    },
    "model": {
        "num_classes": None,         # null: taken from the dataset
        "arch": "dff",               # dff | accel (reference + update branch, fused)
        "backbone": "resnet18",
        "output_stride": 8,
        "pretrained": None,          # null | imagenet
        "feat_channels": 256,
        "flow": "flownets_lite",
        "flow_width": 1.0,           # flownets_lite channel multiplier
        "flow_scale": 0.5,           # flownets_lite/raft_small/dis: frames resized by this before the flow net
        "raft_updates": 6,           # raft_small recurrent updates
        "dis_preset": "fast",        # dis: ultrafast | fast | medium
        "scale_field": True,
        "padding_mode": "border",
        "propagation": "direct",     # direct (DFF, key -> frame) | chained (Accel, frame -> frame)
        "key_interval": 5,           # k: key frame every k frames; training keys 0..k-1 back
        "key_policy": "fixed",       # inference: fixed (dff/engine/policies.py)
        "update_backbone": "resnet18",  # accel: update branch (resnet18/34/50, mobilenet_v3_large/small)
        "update_output_stride": 16,
        "update_channels": 128,
        "update_kernel": 3,          # accel: update feature conv 3x3 or 1x1
        "update_scale": 1.0,         # accel: update branch input resize factor (0.5: ~1/4 of its cost)
        "fusion": "score",           # accel: score (2C -> C 1x1 conv) | feature (concat, 1x1, shared head)
        "load_from": None,           # checkpoint path (or list, later ones win) to initialise weights
    },
    "train": {
        "iters": 2000,
        "batch_size": 8,             # per process (torchrun: world size x this per step)
        "lr": 1.0e-3,
        "weight_decay": 1.0e-4,
        "warmup_iters": 50,
        "val_every": 250,            # validation (and best.pt) every this many iterations and at the end; 0: never
        "val_frames": 120,           # labelled val frames scored in periodic validation (0: all)
        "save_every": 250,
        "log_every": 10,
        "seed": 0,
        "workers": 0,
        "objective": "propagated",   # propagated (output at the sampled key offset) | per_frame
        "freeze": [],                # top-level modules kept fixed (weights and BN statistics)
        "freeze_bn": False,          # every BatchNorm in eval mode (running statistics fixed, affine trained)
        "optimizer": "adamw",        # adamw | sgd
        "momentum": 0.9,             # sgd (nesterov when > 0)
        "scheduler": "poly",         # poly | cosine | step | constant, after warmup_iters of linear warm-up
        "poly_power": 0.9,
        "lr_steps": [],              # step: iterations at which the lr is multiplied by lr_gamma
        "lr_gamma": 0.1,
        "lr_mult": {},               # {module name: lr factor}, e.g. {flow_net: 0.1, fusion: 10}
        "accumulate": 1,             # micro-batches per optimizer step (effective batch = batch_size x this x processes)
        "clip_grad": None,           # max global gradient norm; null: no clipping
        "amp": "off",                # off | bf16 | fp16 (autocast; fp16 adds a GradScaler); the warp stays fp32
        "channels_last": False,      # channels-last memory format for model and inputs
        "compile": False,            # torch.compile the training forward (true, or a backend name e.g. aot_eager)
        "sync_bn": False,            # SyncBatchNorm across processes (CUDA only, as in torch)
        "keep_last": 3,              # ckpt_<iter>.pt files kept besides last.pt and best.pt (0: none)
    },
}


_YAML11_BOOLS = ("yes", "no", "on", "off", "y", "n")  # booleans in YAML 1.1, strings here


class ConfigError(ValueError):
    """A config file or override that does not fit DEFAULTS."""


def _check_keys(cfg: dict, ref: dict, where: str) -> None:
    """Raise on any key of cfg that ref lacks, listing the valid ones."""
    for key, value in cfg.items():
        path = f"{where}.{key}" if where else key
        if key not in ref:
            raise ConfigError(f"unknown config key {path!r}; valid keys{' in ' + where if where else ''}: "
                              f"{', '.join(sorted(ref))}")
        if isinstance(ref[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {path!r} must be a mapping, got {value!r}")
            if ref[key]:  # an empty default ({}: train.lr_mult) is a free-form mapping
                _check_keys(value, ref[key], path)
        elif isinstance(ref[key], bool) and isinstance(value, str) and value.lower() in _YAML11_BOOLS:
            raise ConfigError(f"config key {path!r} is true or false, got the string {value!r}")


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; update wins."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(text: str) -> dict:
    """'a.b=value' to {'a': {'b': value}}, the value parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml_load(raw) if raw else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({e})") from e
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> dict:
    """DEFAULTS <- YAML file <- overrides, validated."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            data = yaml_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        try:
            _check_keys(data, DEFAULTS, "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        cfg = merge(cfg, data)
    for text in overrides:
        upd = parse_override(text)
        _check_keys(upd, DEFAULTS, "")
        cfg = merge(cfg, upd)
    return cfg


def save_config(cfg: dict, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg, sort_keys=False))
