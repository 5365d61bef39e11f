"""YAML configs: defaults, `key=value` overrides, strict validation. Configs are plain dicts."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads exponent floats without a dot (1e-3), as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def yaml_load(text: str):
    """Parse YAML text with _Loader."""
    return yaml.load(text, Loader=_Loader)

# Every valid key with its default. A YAML file only supplies values for these keys.
DEFAULTS: dict = {
    "data": {
        "dataset": "davis",          # davis | synthetic
        "root": "../shared/data/davis2016-mini",
        "split_mode": "temporal",    # temporal | sequences
        "train_fraction": 0.6,       # temporal split: first fraction of every sequence trains
        "short_side": 240,           # frames (and labels, nearest) resized so the short side is this
        "crop_size": [224, 224],     # training crop (h, w), the same on key and current frame
        "scale_range": [1.0, 1.0],   # training: random resize factor before the crop
        "ignore_index": 255,
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
        "raft_updates": 6,           # raft_small recurrent updates
        "dis_preset": "fast",        # dis: ultrafast | fast | medium
        "scale_field": True,
        "padding_mode": "border",
        "propagation": "direct",     # direct (DFF, key -> frame) | chained (Accel, frame -> frame)
        "key_interval": 5,           # k: key frame every k frames; training keys 0..k-1 back
        "key_policy": "fixed",       # inference: fixed | adaptive (same average key rate 1/k)
        "key_threshold": 0.5,        # adaptive: mean flow magnitude (feature-grid px) for a new key
        "update_backbone": "resnet18",  # accel: update branch (resnet18/34/50, mobilenet_v3_large/small)
        "update_output_stride": 16,
        "update_channels": 128,
        "update_kernel": 3,          # accel: update feature conv 3x3 or 1x1
        "fusion": "score",           # accel: score (2C -> C 1x1 conv) | feature (concat, 1x1, shared head)
        "load_from": None,           # checkpoint path (or list, later ones win) to initialise weights
    },
    "train": {
        "iters": 2000,
        "batch_size": 8,
        "lr": 1.0e-3,
        "weight_decay": 1.0e-4,
        "warmup_iters": 50,
        "val_every": 250,
        "val_frames": 120,           # labelled val frames scored in periodic validation (0: all)
        "save_every": 250,
        "log_every": 10,
        "seed": 0,
        "workers": 0,
        "objective": "propagated",   # propagated (output at the sampled key offset) | per_frame
        "freeze": [],                # top-level modules kept fixed (weights and BN statistics)
    },
}


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
            _check_keys(value, ref[key], path)


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
