"""Image segmenters people already have, as DFF key networks: torchvision's DeepLabV3, FCN and
LR-ASPP, and Hugging Face SegFormer. Their own modules, split where DFF warps: the key path is
everything before the last classifier, the head is that classifier, so a key frame gives exactly
the wrapped model's output (after its own bilinear upsampling).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

TORCHVISION_SEGMENTERS = {  # name -> its weights enum in torchvision.models.segmentation
    "deeplabv3_resnet50": "DeepLabV3_ResNet50_Weights",
    "deeplabv3_resnet101": "DeepLabV3_ResNet101_Weights",
    "deeplabv3_mobilenet_v3_large": "DeepLabV3_MobileNet_V3_Large_Weights",
    "fcn_resnet50": "FCN_ResNet50_Weights",
    "fcn_resnet101": "FCN_ResNet101_Weights",
    "lraspp_mobilenet_v3_large": "LRASPP_MobileNet_V3_Large_Weights",
}
CITYSCAPES_NAMES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
                    "bicycle")


@dataclass
class KeyNetwork:
    """A pretrained segmenter split for DFF.

    Args:
        key_path: ImageNet-normalised frames -> the features DFF warps.
        head: (warped) features -> class scores on the feature grid.
        channels: channels of the features.
        class_names: its classes, in output order.
        palette: the palettes.PALETTES name that draws them.
    """

    key_path: nn.Module
    head: nn.Module
    channels: int
    class_names: list[str]
    palette: str


class ClassifierKeyPath(nn.Module):
    """DeepLabV3 / FCN: the backbone's "out" map through the classifier up to its last 1x1 conv."""

    def __init__(self, backbone: nn.Module, layers: nn.Module):
        super().__init__()
        self.backbone, self.layers = backbone, layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.backbone(x)["out"])


class LRASPPKeyPath(nn.Module):
    """LR-ASPP: its stride-8 "low" map and its high branch (cbr x scale, stride 16) upsampled to
    the low grid as its head does, concatenated: both maps are warped on the stride-8 grid."""

    def __init__(self, backbone: nn.Module, cbr: nn.Module, scale: nn.Module):
        super().__init__()
        self.backbone, self.cbr, self.scale = backbone, cbr, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        low, high = features["low"], features["high"]
        high = F.interpolate(self.cbr(high) * self.scale(high), size=low.shape[-2:], mode="bilinear",
                             align_corners=False)
        return torch.cat([low, high], 1)


class LRASPPClassifier(nn.Module):
    """LR-ASPP's two classifiers, summed, on the concatenated maps of LRASPPKeyPath."""

    def __init__(self, low_classifier: nn.Conv2d, high_classifier: nn.Conv2d):
        super().__init__()
        self.low_classifier, self.high_classifier = low_classifier, high_classifier

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        low, high = features.split([self.low_classifier.in_channels, self.high_classifier.in_channels], 1)
        return self.low_classifier(low) + self.high_classifier(high)


def _weights_error(name: str, weights) -> ValueError:
    """One line saying which file to fetch and where torch looks for it."""
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    return ValueError(f"torchvision:{name}: could not fetch its weights {os.path.basename(weights.url)}; download "
                      f"{weights.url} into {cache} (or set TORCH_HOME), or use model.pretrained=null")


def torchvision_key_network(name: str, num_classes: int | None = None, pretrained: bool = False) -> KeyNetwork:
    """torchvision's segmenter `name` split for DFF.

    Args:
        name: one of TORCHVISION_SEGMENTERS.
        num_classes: without weights: its class count (default 21, VOC's).
        pretrained: its DEFAULT weights (COCO images with the 21 VOC classes), from torch's cache
            or a download.
    """
    if name not in TORCHVISION_SEGMENTERS:
        raise ValueError(f"unknown torchvision segmenter {name!r}; valid: {', '.join(TORCHVISION_SEGMENTERS)}")
    seg = torchvision.models.segmentation
    weights = getattr(seg, TORCHVISION_SEGMENTERS[name]).DEFAULT if pretrained else None
    if weights is not None and num_classes not in (None, len(weights.meta["categories"])):
        raise ValueError(f"torchvision:{name} with its weights has {len(weights.meta['categories'])} classes, "
                         f"not {num_classes}")
    try:
        net = getattr(seg, name)(weights=weights, weights_backbone=None,
                                 **({} if weights is not None else {"num_classes": num_classes or 21}))
    except (OSError, RuntimeError) as e:  # urllib's URLError is an OSError
        raise _weights_error(name, weights) from e
    names = list(weights.meta["categories"]) if weights is not None else [f"class{i}" for i in range(num_classes or 21)]
    return _split_torchvision(net, names)


def _split_torchvision(net: nn.Module, names: list[str]) -> KeyNetwork:
    """A torchvision DeepLabV3, FCN or LRASPP split at its last classifier(s)."""
    if isinstance(net, torchvision.models.segmentation.LRASPP):
        head = net.classifier
        classifier = LRASPPClassifier(head.low_classifier, head.high_classifier)
        channels = head.low_classifier.in_channels + head.high_classifier.in_channels
        return KeyNetwork(LRASPPKeyPath(net.backbone, head.cbr, head.scale), classifier, channels, names, "voc")
    *layers, last = net.classifier  # (DeepLabHead and FCNHead subclass Sequential; a slice would rebuild them)
    return KeyNetwork(ClassifierKeyPath(net.backbone, nn.Sequential(*layers)), last, last.in_channels, names, "voc")


class SegformerKeyPath(nn.Module):
    """SegFormer's encoder and all-MLP decoder up to its fused features (1/4 resolution, after
    linear_fuse, norm and activation): the model itself, its classifier taken out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x, return_dict=True).logits


def _transformers(source: str):
    """The transformers package (an optional dependency), or an install hint."""
    try:
        import transformers
    except ImportError as e:
        raise ImportError(f"hf:{source} needs Hugging Face transformers: pip install \"dff[hf]\"") from e
    return transformers


def segformer_key_network(source: str) -> KeyNetwork:
    """transformers' SegformerForSemanticSegmentation from a hub id or a local folder, split for DFF."""
    transformers = _transformers(source)
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # a bar per load would clutter dff's output
    try:
        model = transformers.SegformerForSemanticSegmentation.from_pretrained(source)
    except (OSError, ValueError) as e:
        raise ValueError(f"hf:{source}: cannot load a SegFormer from it ({str(e).splitlines()[0]})") from e
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    return _split_segformer(model)


def _split_segformer(model: nn.Module) -> KeyNetwork:
    """A SegformerForSemanticSegmentation (changed: its classifier becomes the head) split for DFF."""
    head = model.decode_head.classifier
    model.decode_head.classifier = nn.Identity()
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    palette = "cityscapes" if tuple(n.lower() for n in names) == CITYSCAPES_NAMES else "voc"
    return KeyNetwork(SegformerKeyPath(model), head, head.in_channels, names, palette)


def key_network_from_module(net: nn.Module) -> KeyNetwork:
    """A model instance split for DFF: torchvision's DeepLabV3, FCN or LRASPP (sharing its modules;
    21 classes are taken for VOC's, as all its weights have) or a SegformerForSemanticSegmentation
    (copied: its classifier is taken out)."""
    seg = torchvision.models.segmentation
    if isinstance(net, (seg.DeepLabV3, seg.FCN, seg.LRASPP)):
        last = net.classifier.low_classifier if isinstance(net, seg.LRASPP) else net.classifier[-1]
        n = last.out_channels
        voc = list(seg.FCN_ResNet50_Weights.DEFAULT.meta["categories"])
        return _split_torchvision(net, voc if n == len(voc) else [f"class{i}" for i in range(n)])
    if type(net).__name__ == "SegformerForSemanticSegmentation":
        return _split_segformer(copy.deepcopy(net))
    raise ValueError(f"dff.load: cannot wrap a {type(net).__name__}; valid: torchvision's DeepLabV3, FCN, LRASPP, "
                     "transformers' SegformerForSemanticSegmentation, or a dff model")


def key_network_classes(spec: str, pretrained: bool = False) -> list[str] | None:
    """The class names a pretrained key network comes with, read without building it (None when
    it has no weights of its own: its classes are then the dataset's)."""
    kind, _, name = spec.partition(":")
    if kind == "torchvision" and pretrained and name in TORCHVISION_SEGMENTERS:
        return list(getattr(torchvision.models.segmentation, TORCHVISION_SEGMENTERS[name]).DEFAULT.meta["categories"])
    if kind == "hf":
        try:
            config = _transformers(name).AutoConfig.from_pretrained(name)
        except (OSError, ValueError) as e:
            raise ValueError(f"hf:{name}: cannot read its config ({str(e).splitlines()[0]})") from e
        return [config.id2label[i] for i in range(config.num_labels)]
    return None


def key_network(spec: str | KeyNetwork, num_classes: int | None = None, pretrained: bool = False) -> KeyNetwork:
    """model.key_network: "torchvision:<name>" or "hf:<hub id or local folder>" (or one already split)."""
    if isinstance(spec, KeyNetwork):
        return spec
    kind, _, name = spec.partition(":")
    if kind == "torchvision":
        return torchvision_key_network(name, num_classes, pretrained)
    if kind == "hf":
        return segformer_key_network(name)
    raise ValueError(f"model.key_network {spec!r}: expected torchvision:<name> or hf:<hub id or folder>")
