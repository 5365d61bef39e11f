import torch
import torch.nn.functional as F

from dff.models import build_model
from dff.ops import flow_warp


def tiny(**kw):
    torch.manual_seed(0)
    return build_model(3, "resnet18", 8, feat_channels=16, flow_width=0.25, **kw).eval()


def zero_flow(model):
    """Make the flow net output exactly zero flow (its scale field is exactly 1 at init)."""
    for m in (model.flow_net.predict5, model.flow_net.predict4, model.flow_net.predict3,
              model.flow_net.predict2):
        torch.nn.init.zeros_(m.weight)
    return model


def test_key_and_propagate_shapes():
    model = tiny()
    frames = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        state = model.key(frames)
        assert state.features.shape == (2, 16, 8, 10)
        assert model.logits(state, (64, 80)).shape == (2, 3, 64, 80)
        assert model.logits(model.propagate(state, torch.rand(2, 3, 64, 80))).shape == (2, 3, 64, 80)


def test_zero_flow_and_unit_scale_propagate_the_key_exactly():
    model = zero_flow(tiny())
    key, cur = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        state = model.key(key)
        a = model.logits(model.propagate(state, cur))
        b = model.logits(state, (64, 64))
    assert torch.allclose(a, b, atol=1e-5)


def test_propagation_warps_features_by_the_predicted_flow():
    model = tiny()
    key, cur = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        state = model.key(key)
        flow, scale = model.flow_net(cur, state.frame, (8, 8))
        warped = flow_warp(state.features, flow, padding_mode="border") * scale
        expect = F.interpolate(model.head(warped), size=(64, 64), mode="bilinear", align_corners=False)
        assert torch.allclose(model.logits(model.propagate(state, cur)), expect, atol=1e-6)


def test_key_flip_averages_the_mirror_images_features_in_eval_mode_only():
    flipped, plain = tiny(key_flip=True), tiny()  # the same seed: the same weights
    frame = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        direct, mirrored = plain.key(frame).features, plain.key(frame.flip(-1)).features.flip(-1)
        got = flipped.key(frame)
        assert torch.allclose(got.features, (direct + mirrored) / 2, atol=1e-5)
        assert not torch.allclose(got.features, direct, atol=1e-3)
        assert got.is_key and got.frame is frame  # propagated frames then inherit the averaged features
        # the averaged features of the mirror image are the mirror of the frame's
        assert torch.allclose(flipped.key(frame.flip(-1)).features, got.features.flip(-1), atol=1e-5)
        assert torch.allclose(flipped.logits(flipped.propagate(got, frame)),
                              plain.logits(plain.propagate(got, frame)), atol=1e-6)
        flipped.train(), plain.train()  # training sees the frame alone
        assert torch.allclose(flipped.key(frame).features, plain.key(frame).features, atol=1e-6)
    accel = build_model(3, "resnet18", 8, feat_channels=16, flow_width=0.25, arch="accel",
                        update_backbone="mobilenet_v3_small", update_output_stride=32, key_flip=True)
    assert accel.key_flip


def test_training_forward_matches_inference_paths():
    model = tiny()
    clip = torch.rand(2, 3, 3, 64, 64)  # (N, T, 3, H, W): key first, current last
    key, cur = clip[:, 0], clip[:, -1]
    with torch.no_grad():
        out = model(clip, torch.tensor([0, 2]))
        state = model.key(key)
        assert torch.allclose(out[:1], model.logits(state, (64, 64))[:1], atol=1e-5)
        assert torch.allclose(out[1:], model.logits(model.propagate(state, cur))[1:], atol=1e-5)


def test_chained_propagation_warps_frame_to_frame():
    model = tiny(propagation="chained")
    clip = torch.rand(1, 3, 3, 64, 64)
    with torch.no_grad():
        out = model(clip, torch.tensor([2]))
        state = model.key(clip[:, 0])
        state = model.propagate(state, clip[:, 1])
        state = model.propagate(state, clip[:, 2])
        assert torch.allclose(out, model.logits(state), atol=1e-5)
        direct = model.logits(model.propagate(model.key(clip[:, 0]), clip[:, 2]))
        assert not torch.allclose(out, direct, atol=1e-4)  # a real difference in the path


def test_unknown_propagation_lists_valid():
    import pytest

    with pytest.raises(ValueError, match="direct, chained"):
        tiny(propagation="skip")


def test_every_parameter_gets_a_gradient_even_at_offset_zero():
    model = tiny().train()
    out = model(torch.rand(2, 2, 3, 64, 64), torch.tensor([0, 1]))
    out.logsumexp(1).mean().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert model.flow_net.predict2.weight.grad.abs().sum() > 0  # flow learns through the warp


def test_key_channels_last_stores_depthwise_backbones_nhwc_with_the_same_outputs():
    from dff.models.layout import key_channels_last

    x, y = torch.rand(1, 3, 64, 80), torch.rand(1, 3, 64, 80)
    for name, depthwise in (("efficientnet_lite0", True), ("mobilenet_v3_large", True), ("resnet18", False)):
        torch.manual_seed(0)
        a = build_model(3, name, 16, feat_channels=16, flow_width=0.25).eval()
        b = build_model(3, name, 16, feat_channels=16, flow_width=0.25).eval()
        b.load_state_dict(a.state_dict())
        assert key_channels_last(b) is depthwise, name
        stem = next(m.weight for m in b.backbone.modules() if isinstance(m, torch.nn.Conv2d))  # 3 in, k x k
        assert stem.is_contiguous(memory_format=torch.channels_last) is depthwise, name
        assert all(p.is_contiguous() for p in b.flow_net.parameters())  # only the key network's
        with torch.no_grad():
            sa, sb = a.key(x), b.key(x)
            for pa, pb in ((sa, sb), (a.propagate(sa, y), b.propagate(sb, y))):
                la, lb = a.logits(pa), b.logits(pb)
                assert (la - lb).abs().max() <= 1e-5 * la.abs().max(), name
                assert torch.equal(la.argmax(1), lb.argmax(1)), name
    elsewhere = build_model(3, "mobilenet_v3_large", 16, feat_channels=16, flow_width=0.25).to("meta")
    assert not key_channels_last(elsewhere)  # off the CPU (not measured there): left as it is
    assert next(elsewhere.backbone.parameters()).is_contiguous()
