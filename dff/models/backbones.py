"""Key-frame backbones: torchvision's ResNets and MobileNetV3, and EfficientNet-Lite0
(efficientnet_lite.py), with output stride 8 or 16 by dilation."""
from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from ..ops.depthwise import fast_dilated_depthwise
from .efficientnet_lite import EfficientNetLite0

RESNETS = {
    "resnet18": (torchvision.models.resnet18, "ResNet18_Weights", 512),
    "resnet34": (torchvision.models.resnet34, "ResNet34_Weights", 512),
    "resnet50": (torchvision.models.resnet50, "ResNet50_Weights", 2048),
    "resnet101": (torchvision.models.resnet101, "ResNet101_Weights", 2048),
}
MOBILENETS = {
    "mobilenet_v3_large": (torchvision.models.mobilenet_v3_large, "MobileNet_V3_Large_Weights", 960),
    "mobilenet_v3_small": (torchvision.models.mobilenet_v3_small, "MobileNet_V3_Small_Weights", 576),
}
BACKBONES = (*RESNETS, *MOBILENETS, "efficientnet_lite0")


def _build(name: str, builder, weights_enum: str, pretrained: bool, **kwargs) -> nn.Module:
    """torchvision builder with optional ImageNet weights and a clear error when unreachable."""
    weights = getattr(torchvision.models, weights_enum).IMAGENET1K_V1 if pretrained else None
    try:
        return builder(weights=weights, **kwargs)
    except Exception as e:  # network errors surface as URLError/OSError/RuntimeError
        raise RuntimeError(
            f"could not fetch ImageNet weights for {name} ({e}); set model.pretrained: null "
            "or place the file in torch's hub cache (TORCH_HOME)"
        ) from e


def _dilate_layer(layer: nn.Sequential, dilation: int) -> None:
    """Turn a stride-2 ResNet stage into a stride-1 stage with dilated 3x3 convs.

    torchvision's BasicBlock refuses dilation at construction, so both block types are edited
    in place: every 3x3 conv gets stride 1, dilation and padding `dilation`; every strided 1x1
    (the shortcut) gets stride 1. ImageNet weights stay valid, only the sampling changes.
    """
    for m in layer.modules():
        if isinstance(m, nn.Conv2d):
            if m.kernel_size == (3, 3):
                m.stride, m.dilation, m.padding = (1, 1), (dilation, dilation), (dilation, dilation)
            elif m.stride != (1, 1):
                m.stride = (1, 1)


class ResNetBackbone(nn.Module):
    """ResNet trunk (stem + 4 stages) returning the last stage's feature map.

    Args:
        name: one of BACKBONES.
        output_stride: 8, 16 or 32 (stages 3/4 dilated as needed).
        pretrained: load torchvision's ImageNet weights (needs the download to work).
    """

    def __init__(self, name: str = "resnet18", output_stride: int = 8, pretrained: bool = False):
        super().__init__()
        if name not in RESNETS:
            raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        builder, weights_enum, self.out_channels = RESNETS[name]
        net = _build(name, builder, weights_enum, pretrained)
        if output_stride <= 16:
            _dilate_layer(net.layer4, 2 if output_stride == 16 else 4)
        if output_stride == 8:
            _dilate_layer(net.layer3, 2)
        self.output_stride = output_stride
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features at 1/output_stride of the input."""
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class MobileNetBackbone(nn.Module):
    """MobileNetV3 feature extractor (torchvision), output stride 16 (last stage dilated) or 32.

    Args:
        name: mobilenet_v3_large or mobilenet_v3_small.
        output_stride: 16 or 32.
        pretrained: load torchvision's ImageNet weights (needs the download to work).
    """

    def __init__(self, name: str = "mobilenet_v3_large", output_stride: int = 16, pretrained: bool = False):
        super().__init__()
        if output_stride not in (16, 32):
            raise ValueError(f"{name}: output_stride must be 16 or 32, got {output_stride}")
        builder, weights_enum, self.out_channels = MOBILENETS[name]
        net = _build(name, builder, weights_enum, pretrained, dilated=output_stride == 16)
        for m in net.modules():
            # torchvision uses BN momentum 0.01 (made for long ImageNet runs); after a short
            # training the running statistics would still sit near their init and eval breaks.
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
        self.output_stride = output_stride
        self.features = fast_dilated_depthwise(net.features)  # the dilated last stage trains faster

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features at 1/output_stride of the input."""
        return self.features(x)


def build_backbone(name: str, output_stride: int = 8, pretrained: bool = False) -> nn.Module:
    """Build a backbone by name (ResNets at stride 8/16/32, MobileNetV3 at 16/32, EfficientNet-Lite0
    at 8/16/32; its ImageNet weights come from a package, not a download)."""
    if name in MOBILENETS:
        return MobileNetBackbone(name, output_stride, pretrained)
    if name == "efficientnet_lite0":
        return EfficientNetLite0(output_stride, pretrained)
    return ResNetBackbone(name, output_stride, pretrained)
