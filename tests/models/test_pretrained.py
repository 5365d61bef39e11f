import sys

import pytest
import torch
import torchvision

from dff.models import build_model
from dff.models.normalize import Normalize
from dff.models.pretrained import TORCHVISION_SEGMENTERS, key_network_classes

FRAME = (1, 3, 72, 104)  # odd multiples of the strides: the upsampling must still match
WORST: dict[str, float] = {}  # worst key-frame difference per adapter, printed at the end


def wrapped(spec: str, num_classes: int = 21, **kw):
    torch.manual_seed(0)
    return build_model(num_classes, key_network=spec, flow="dis", flow_scale=1.0, **kw).eval()


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """max |ours - theirs| over max |theirs| (at least 1): random deep nets give logits in the
    thousands, where float32 itself differs in the 4th decimal between runs of the same conv."""
    return float((ours - theirs).abs().max() / theirs.abs().max().clamp(min=1))


def randomise_batchnorm(model: torch.nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics, so that a wrong split would show."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def static_clip_propagates_the_key_exactly(model, frame: torch.Tensor) -> None:
    """One frame repeated: every propagated frame gives the key frame's labels, its logits within
    1e-5 relative (a zero-flow warp samples at pixel centres recomputed in float: not bit-exact)."""
    with torch.no_grad():
        key = model.key(frame)
        expect, state = model.logits(key), key
        for _ in range(3):
            state = model.propagate(state, frame.clone())
            assert not state.flow.any()  # DIS finds no motion between identical frames
            logits = model.logits(state)
            assert relative_difference(logits, expect) <= 1e-5 and torch.equal(logits.argmax(1), expect.argmax(1))


def torchvision_model(name: str, model) -> torch.nn.Module:
    """torchvision's own model class (its forward, its upsampling) around the wrapped modules."""
    seg = torchvision.models.segmentation
    if name.startswith("lraspp"):
        low, high = model.head.low_classifier, model.head.high_classifier
        net = seg.LRASPP(model.backbone.backbone, low.in_channels, model.backbone.cbr[0].in_channels, 21)
        head = net.classifier
        head.cbr, head.scale, head.low_classifier, head.high_classifier = model.backbone.cbr, model.backbone.scale, low, high
        return net.eval()
    cls = seg.DeepLabV3 if name.startswith("deeplab") else seg.FCN
    return cls(model.backbone.backbone, torch.nn.Sequential(*model.backbone.layers, model.head)).eval()


@pytest.mark.parametrize("name", list(TORCHVISION_SEGMENTERS))
def test_torchvision_key_frames_equal_the_wrapped_model(name):
    model = wrapped(f"torchvision:{name}")
    randomise_batchnorm(model)
    frame = torch.rand(*FRAME)
    with torch.no_grad():
        ours, theirs = model.logits(model.key(frame)), torchvision_model(name, model)(Normalize()(frame))["out"]
    WORST[name] = relative_difference(ours, theirs)
    assert ours.shape == theirs.shape == (1, 21, *FRAME[-2:]) and WORST[name] <= 1e-5
    assert torch.equal(ours.argmax(1), theirs.argmax(1))
    assert len(model.class_names) == 21 and model.palette == "voc"
    static_clip_propagates_the_key_exactly(model, frame)


def test_pretrained_weights_that_cannot_be_fetched_name_the_file_and_folder(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: the download is tried
    with pytest.raises(ValueError, match=r"deeplabv3_mobilenet_v3_large-\w+\.pth; download https://\S+ into "
                                         + str(tmp_path)):
        wrapped("torchvision:deeplabv3_mobilenet_v3_large", pretrained="default")
    assert key_network_classes("torchvision:fcn_resnet50", True)[:2] == ["__background__", "aeroplane"]
    assert len(key_network_classes("torchvision:lraspp_mobilenet_v3_large", True)) == 21


def test_unknown_key_networks_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid: deeplabv3_resnet50, deeplabv3_resnet101"):
        wrapped("torchvision:unet")
    with pytest.raises(ValueError, match="torchvision:<name> or hf:"):
        wrapped("timm:resnet")


def test_segformer_key_frames_equal_the_wrapped_model(segformer_folder):
    folder, own = segformer_folder
    model = wrapped(f"hf:{folder}", num_classes=19)
    assert model.class_names[:2] == ["road", "sidewalk"] and model.palette == "cityscapes"
    assert key_network_classes(f"hf:{folder}") == model.class_names
    frame = torch.rand(*FRAME)
    with torch.no_grad():
        ours = model.logits(model.key(frame))
        theirs = torch.nn.functional.interpolate(own(pixel_values=Normalize()(frame)).logits, size=FRAME[-2:],
                                                 mode="bilinear", align_corners=False)  # as its post-processing
    WORST["segformer"] = relative_difference(ours, theirs)
    assert ours.shape == (1, 19, *FRAME[-2:]) and WORST["segformer"] <= 1e-5
    assert torch.equal(ours.argmax(1), theirs.argmax(1))
    assert model.state_dict()["head.weight"].shape == (19, 32, 1, 1)  # the classifier, taken out as the head
    static_clip_propagates_the_key_exactly(model, frame)


def test_segformer_errors_name_the_source(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    with pytest.raises(ValueError, match=f"hf:{tmp_path}: cannot load a SegFormer"):
        wrapped(f"hf:{tmp_path}")
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "dff\[hf\]"'):
        wrapped(f"hf:{tmp_path}")


def test_worst_key_frame_differences_per_adapter(capsys):
    """Reports what the exactness tests measured (run after them, in file order)."""
    with capsys.disabled():
        print("\nworst key-frame difference (relative) per adapter:", {k: f"{v:.1e}" for k, v in WORST.items()})
