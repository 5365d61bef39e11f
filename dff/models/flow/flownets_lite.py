"""FlowNetS-lite: a reduced-width FlowNetS that also predicts DFF's scale field."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...ops import resize_flow
from ..normalize import IMAGENET_MEAN, IMAGENET_STD
from .base import FlowNet


def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv + LeakyReLU, as in FlowNetS."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2), nn.LeakyReLU(0.1, inplace=True))


def deconv(cin: int, cout: int) -> nn.Sequential:
    """2x transposed conv + LeakyReLU."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True))


class FlowNetSLite(FlowNet):
    """FlowNetS encoder/decoder at reduced width, run at half the frame resolution.

    Keeps FlowNet's contract; its scale field has `scale_channels` channels. The final flow is
    predicted at stride 4 of the resized input (stride 8 of the frame at input_scale 0.5) and
    resized to `out_size`.

    Args:
        scale_channels: channels of DFF's scale field (= warped feature channels); 0 disables it.
        width: channel multiplier; 1.0 = (32, 64, 128, 256, 256), half of FlowNetS's widths.
        input_scale: resolution factor applied to the frames before the network (DFF uses 0.5).
    """

    def __init__(self, scale_channels: int = 0, width: float = 1.0, input_scale: float = 0.5):
        super().__init__(input_scale)
        c1, c2, c3, c4, c5 = (max(8, int(round(c * width))) for c in (32, 64, 128, 256, 256))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN * 2).view(1, 6, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD * 2).view(1, 6, 1, 1), persistent=False)
        self.conv1 = conv(6, c1, 7, 2)
        self.conv2 = conv(c1, c2, 5, 2)
        self.conv3 = nn.Sequential(conv(c2, c3, 5, 2), conv(c3, c3))
        self.conv4 = nn.Sequential(conv(c3, c4, 3, 2), conv(c4, c4))
        self.conv5 = nn.Sequential(conv(c4, c5, 3, 2), conv(c5, c5))
        self.predict5 = nn.Conv2d(c5, 2, 3, 1, 1)
        self.deconv4, d4 = deconv(c5, c4 // 2), c4 + c4 // 2 + 2
        self.predict4 = nn.Conv2d(d4, 2, 3, 1, 1)
        self.deconv3, d3 = deconv(d4, c3 // 2), c3 + c3 // 2 + 2
        self.predict3 = nn.Conv2d(d3, 2, 3, 1, 1)
        self.deconv2, d2 = deconv(d3, c2 // 2), c2 + c2 // 2 + 2
        self.predict2 = nn.Conv2d(d2, 2, 3, 1, 1)
        for p in (self.predict5, self.predict4, self.predict3, self.predict2):
            nn.init.normal_(p.weight, std=1e-3)  # near-zero flow at start: DFF begins as copying
            nn.init.zeros_(p.bias)
        self.scale = None
        if scale_channels:
            # 1x1 conv initialised to output exactly 1: propagation starts as plain warping.
            self.scale = nn.Conv2d(d2, scale_channels, 1)
            nn.init.zeros_(self.scale.weight)
            nn.init.ones_(self.scale.bias)

    def _refine(self, feat, skip, flow, deconv_layer, predict):
        """One decoder level: upsample features and flow, concat with the skip, predict."""
        up = deconv_layer(feat)
        up = up[..., : skip.shape[-2], : skip.shape[-1]]
        cat = torch.cat((skip, up, resize_flow(flow, skip.shape[-2:])), 1)
        return cat, predict(cat)

    def _decode(self, current: torch.Tensor, key: torch.Tensor):
        """Flows of the decoder levels (coarse to fine, each in pixels of its own grid) and the
        finest level's features."""
        x = self.resized(torch.cat((current, key), 1))  # resized first: normalising fewer pixels is cheaper
        x = (x - self.mean) / self.std
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        x3 = self.conv3(x2)
        x4 = self.conv4(x3)
        x5 = self.conv5(x4)
        flow5 = self.predict5(x5)
        cat4, flow4 = self._refine(x5, x4, flow5, self.deconv4, self.predict4)
        cat3, flow3 = self._refine(cat4, x3, flow4, self.deconv3, self.predict3)
        cat2, flow2 = self._refine(cat3, x2, flow3, self.deconv2, self.predict2)
        return [flow5, flow4, flow3, flow2], cat2

    def pyramid(self, current: torch.Tensor, key: torch.Tensor) -> list[torch.Tensor]:
        """Flow current -> key at every decoder level, coarse to fine, in pixels of each level's
        grid (FlowNet's multi-scale supervision, train.objective flow)."""
        return self._decode(current, key)[0]

    def estimate(self, current: torch.Tensor, key: torch.Tensor, out_size: tuple[int, int]):
        """(flow, scale or None) on the out_size grid."""
        flows, cat2 = self._decode(current, key)
        flow = resize_flow(flows[-1], out_size)
        if self.scale is None:
            return flow, None
        scale = F.interpolate(self.scale(cat2), size=out_size, mode="bilinear", align_corners=False)
        return flow, scale
