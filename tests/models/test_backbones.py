import pytest
import torch

from dff.models import BACKBONES, build_backbone


@pytest.mark.parametrize("name,channels,stride",
                         [(n, c, s) for n, c in (("resnet18", 512), ("resnet50", 2048)) for s in (8, 16, 32)]
                         + [(n, c, s) for n, c in (("mobilenet_v3_large", 960), ("mobilenet_v3_small", 576))
                            for s in (16, 32)])
def test_output_stride_and_channels(name, channels, stride):
    net = build_backbone(name, stride).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 96))
    assert net.out_channels == channels
    assert out.shape == (1, channels, 64 // stride, 96 // stride)


def test_basic_block_dilation_is_set_after_construction():
    net = build_backbone("resnet18", 8)
    conv = net.layer4[1].conv2
    assert conv.dilation == (4, 4) and conv.padding == (4, 4) and conv.stride == (1, 1)
    assert net.layer3[0].downsample[0].stride == (1, 1)
    assert net.layer2[0].conv1.stride == (2, 2)  # stages before the dilated ones keep striding


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(ValueError, match="resnet18.*resnet50"):
        build_backbone("vgg16")
    with pytest.raises(ValueError, match="output_stride"):
        build_backbone("resnet18", 4)
    assert set(BACKBONES) >= {"resnet18", "resnet50"}


def test_pretrained_weights_unreachable_give_a_clear_error(monkeypatch):
    # No network here: simulate the fetch failing the way torch.hub reports it.
    import torch.hub
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("offline")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="could not fetch ImageNet weights for resnet18.*pretrained"):
        build_backbone("resnet18", 8, pretrained=True)


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_mobilenet_refuses_output_stride_8(name):
    with pytest.raises(ValueError, match="output_stride must be 16 or 32"):
        build_backbone(name, 8)


def test_mobilenet_batchnorm_statistics_follow_training_at_the_default_rate():
    net = build_backbone("mobilenet_v3_small", 32)
    assert {m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}
