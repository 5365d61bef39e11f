import pytest
import torch

from dff.models.build import build_model
from dff.models.heads import ASPP, conv_bn_relu, feature_conv


def _far_reach(layer: torch.nn.Module) -> float:
    """How much the output's last cell moves when the input's first cell changes."""
    torch.manual_seed(0)
    layer.eval()
    x = torch.randn(1, 8, 15, 27)
    y = x.clone()
    y[..., 0, 0] += 5.0
    with torch.no_grad():
        return float((layer(x)[..., -1, -1] - layer(y)[..., -1, -1]).abs().max())


def test_aspp_sees_across_the_frame_where_a_3x3_conv_does_not():
    assert _far_reach(conv_bn_relu(8, 16)) == 0.0
    assert _far_reach(ASPP(8, 16)) > 1e-4


def test_aspp_keeps_the_grid_and_gives_out_channels():
    out = ASPP(8, 16, rates=(2, 4)).eval()(torch.randn(2, 8, 9, 13))
    assert out.shape == (2, 16, 9, 13)


def test_feature_conv_names():
    assert isinstance(feature_conv(8, 16, "aspp"), ASPP)
    with pytest.raises(ValueError, match="valid: aspp"):
        feature_conv(8, 16, "psp")


def test_a_context_model_trains_its_context_module():
    torch.manual_seed(0)
    model = build_model(3, backbone="resnet18", output_stride=16, context="aspp")
    assert isinstance(model.feature_conv, ASPP)
    frame = torch.rand(2, 3, 64, 96)
    logits = model.logits(model.key(frame))
    assert logits.shape == (2, 3, 64, 96)
    logits.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.feature_conv.parameters())


def test_context_needs_dffs_own_key_network():
    with pytest.raises(ValueError, match="model.context"):
        build_model(21, key_network="torchvision:lraspp_mobilenet_v3_large", context="aspp")
