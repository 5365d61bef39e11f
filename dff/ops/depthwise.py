"""Dilated depthwise convolution with a cheaper backward pass on CPU.

oneDNN's gradients of a dilated depthwise conv are slow on CPU: for Lite0's last stage at output
stride 16 (1152 channels, 5x5, dilation 2, a 4 x 224 x 224 batch) the input gradient takes 20 ms
and the weight gradient 75 ms, against 2 ms for the forward pass, so five such layers were a third
of a training step. For stride 1 both gradients are cheap in other terms: the input gradient is
the same depthwise conv of the output gradient with the kernel flipped, and each weight is one
product-sum of the output gradient with a shifted input (k*k of them).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


class _DilatedDepthwise(torch.autograd.Function):
    """F.conv2d(x, weight, None, 1, padding, dilation, groups=channels), with the backward above."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, x, weight, padding: tuple[int, int], dilation: tuple[int, int]):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.dilation = padding, dilation
        return F.conv2d(x, weight, None, 1, padding, dilation, x.shape[1])

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cpu")  # under train.amp, the backward's convs autocast as the forward's did
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        (ph, pw), (dh, dw) = ctx.padding, ctx.dilation
        kh, kw = weight.shape[-2:]
        gx = gw = None
        if ctx.needs_input_grad[0]:  # the transpose of a stride-1 conv: the flipped kernel, padded to x's size
            gx = F.conv2d(grad, weight.flip(-1, -2), None, 1, (dh * (kh - 1) - ph, dw * (kw - 1) - pw),
                          (dh, dw), x.shape[1])
        if ctx.needs_input_grad[1]:
            # Channels-last for both: each product-sum then runs over memory in order (7x faster
            # than NCHW or mixed layouts at Lite0's last stage).
            cl = torch.channels_last
            xp, g = F.pad(x, (pw, pw, ph, ph)).contiguous(memory_format=cl), grad.contiguous(memory_format=cl)
            h, w = g.shape[-2:]
            taps = [(g * xp[:, :, i * dh:i * dh + h, j * dw:j * dw + w]).sum((0, 2, 3))
                    for i in range(kh) for j in range(kw)]
            # In the weight's own layout (channels-last models): DDP's buckets expect the param's strides.
            gw = torch.empty_like(weight)
            gw.view(len(taps[0]), -1).copy_(torch.stack(taps, 1))
        return gx, gw, None, None


class DilatedDepthwiseConv2d(nn.Conv2d):
    """A depthwise, stride-1, dilated nn.Conv2d (the same parameters and state dict) that trains
    through _DilatedDepthwise on CPU; elsewhere, and without gradients, it is nn.Conv2d.

    Args:
        channels: input and output channels (groups = channels).
        kernel_size: k (k x k kernel).
        dilation: > 1.
        padding: per side; at most dilation * (k - 1) (default: "same", dilation * (k // 2)).
        bias: add a learned bias.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int, padding: int | None = None,
                 bias: bool = False):
        padding = dilation * (kernel_size // 2) if padding is None else padding
        if not self.fits(kernel_size, dilation, padding):
            raise ValueError(f"DilatedDepthwiseConv2d: needs dilation >= 2 and 0 <= padding <= "
                             f"dilation * (kernel_size - 1), got dilation {dilation}, padding {padding}")
        super().__init__(channels, channels, kernel_size, 1, padding, dilation, channels, bias)

    @staticmethod
    def fits(kernel_size: int, dilation: int, padding: int) -> bool:
        """Whether the backward applies: dilated, and padded by at most dilation * (k - 1) (the input
        gradient's conv is padded by that less this)."""
        return dilation >= 2 and 0 <= padding <= dilation * (kernel_size - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not torch.is_grad_enabled() or not (x.requires_grad or self.weight.requires_grad):
            return super().forward(x)
        y = _DilatedDepthwise.apply(x, self.weight, self.padding, self.dilation)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


def fast_dilated_depthwise(model: nn.Module) -> nn.Module:
    """Replace, in place, every depthwise stride-1 dilated nn.Conv2d of model (a torchvision
    MobileNetV3's last stage, say) by a DilatedDepthwiseConv2d holding the same parameters."""
    for name, child in model.named_children():
        if (type(child) is nn.Conv2d and child.groups == child.in_channels == child.out_channels
                and child.stride == (1, 1) and child.padding_mode == "zeros"
                and child.kernel_size[0] == child.kernel_size[1] and child.dilation[0] == child.dilation[1]
                and child.padding[0] == child.padding[1]
                and DilatedDepthwiseConv2d.fits(child.kernel_size[0], child.dilation[0], child.padding[0])):
            new = DilatedDepthwiseConv2d(child.in_channels, child.kernel_size[0], child.dilation[0],
                                         child.padding[0], child.bias is not None)
            new.weight, new.bias = child.weight, child.bias
            setattr(model, name, new)
        else:
            fast_dilated_depthwise(child)
    return model
