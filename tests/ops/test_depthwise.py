import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dff.models.backbones import build_backbone
from dff.ops import DilatedDepthwiseConv2d, fast_dilated_depthwise
from dff.ops.depthwise import _DilatedDepthwise


@pytest.mark.parametrize("kernel,dilation,padding", [(3, 2, None), (5, 2, None), (5, 4, None), (3, 2, 0), (3, 3, 6)])
def test_gradcheck(kernel, dilation, padding):
    # The hand-written backward against finite differences, in float64.
    pad = dilation * (kernel // 2) if padding is None else padding
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, kernel, kernel, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: _DilatedDepthwise.apply(a, b, (pad, pad), (dilation, dilation)),
                                    (x, w))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("size", [(14, 14), (25, 45), (7, 6)])
def test_matches_conv2d_and_its_gradients(channels_last, size):
    torch.manual_seed(0)
    fast = DilatedDepthwiseConv2d(16, 5, 2, bias=True)
    ref = nn.Conv2d(16, 16, 5, 1, 4, 2, 16, True)
    ref.load_state_dict(fast.state_dict())  # the same parameters under the same names
    x = torch.randn(3, 16, *size)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    grads = []
    for m in (fast, ref):
        xi = x.clone().requires_grad_()
        y = m(xi)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        grads.append((y.detach(), xi.grad, m.weight.grad, m.bias.grad))
    for a, b in zip(*grads):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_without_gradients_it_is_the_plain_conv():
    m = DilatedDepthwiseConv2d(4, 3, 2)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(m(x), F.conv2d(x, m.weight, None, 1, 2, 2, 4))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="dilation >= 2"):
        DilatedDepthwiseConv2d(4, 3, 1)
    with pytest.raises(ValueError, match="padding"):
        DilatedDepthwiseConv2d(4, 3, 2, padding=5)  # the input gradient's padding would be negative


def test_converts_only_dilated_depthwise_convs():
    net = nn.Sequential(nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8),  # converted
                        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # not dilated
                        nn.Conv2d(8, 8, 3, padding=2, dilation=2),  # dense
                        nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=8),  # strided
                        nn.Conv2d(8, 8, 3, padding=5, dilation=2, groups=8),  # padded beyond the kernel
                        nn.Sequential(nn.Conv2d(8, 8, 5, padding=4, dilation=2, groups=8)))  # nested: converted
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast_dilated_depthwise(net)
    kinds = [type(m) for m in (net[0], net[1], net[2], net[3], net[4], net[5][0])]
    assert kinds == [DilatedDepthwiseConv2d, nn.Conv2d, nn.Conv2d, nn.Conv2d, nn.Conv2d, DilatedDepthwiseConv2d]
    after = net.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("name,stride,count", [("efficientnet_lite0", 16, 5), ("efficientnet_lite0", 8, 11),
                                               ("efficientnet_lite0", 32, 0), ("mobilenet_v3_large", 16, 3)])
def test_backbones_train_their_dilated_stage_through_it(name, stride, count):
    net = build_backbone(name, stride)
    assert sum(isinstance(m, DilatedDepthwiseConv2d) for m in net.modules()) == count


def test_weight_gradient_keeps_the_weights_layout():
    # DDP's gradient buckets follow each parameter's strides; a channels-last model's (C, 1, k, k)
    # weights have strides (k*k, 1, k, 1).
    m = DilatedDepthwiseConv2d(8, 3, 2).to(memory_format=torch.channels_last)
    m(torch.randn(2, 8, 9, 9).to(memory_format=torch.channels_last)).sum().backward()
    assert m.weight.grad.stride() == m.weight.stride() != torch.empty(8, 1, 3, 3).stride()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_trains_under_cpu_autocast(dtype):
    # train.amp on CPU: the backward's conv sees a low-precision gradient and float32 weights.
    torch.manual_seed(0)
    fast = DilatedDepthwiseConv2d(8, 5, 2)
    ref = nn.Conv2d(8, 8, 5, 1, 4, 2, 8, False)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, 8, 12, 12)
    grads = []
    for m in (fast, ref):
        xi = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=dtype):
            y = m(xi)
        y.float().square().sum().backward()
        grads.append((y.dtype, xi.grad, m.weight.grad))
    assert grads[0][0] == grads[1][0] == dtype
    for a, b in zip(grads[0][1:], grads[1][1:]):
        assert a.dtype == b.dtype == torch.float32
        assert (a - b).abs().max() <= 0.05 * b.abs().max()
