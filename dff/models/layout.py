"""Memory layout of a model for inference on the CPU."""
from __future__ import annotations

import torch
import torch.nn as nn

from .dff import DFFSegmenter


def key_channels_last(model: nn.Module) -> bool:
    """Store a dff model's key network (backbone) channels-last where that runs it faster: on the
    CPU, with depthwise convolutions, for inference after the model is moved there (the values are
    unchanged); whether it did. oneDNN runs depthwise convolutions far faster on NHWC: MobileNetV3
    and EfficientNet-Lite0 key networks ran 1.05-1.7x as fast on 1 and 2 CPU threads; dense ResNets
    from 0.9x (FCN-ResNet-50) to 1.1x (ResNet-18), within the machine's noise, so they stay as they
    are (docs/benchmarking.md (j)). Elsewhere (CUDA, exported graphs) not measured: left as it is."""
    if not isinstance(model, DFFSegmenter) or next(model.backbone.parameters()).device.type != "cpu" or not any(
            isinstance(m, nn.Conv2d) and 1 < m.groups == m.in_channels for m in model.backbone.modules()):
        return False
    model.backbone.to(memory_format=torch.channels_last)
    return True
