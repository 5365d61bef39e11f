import pytest
import torch
import torch.nn.functional as F

from dff.models import AccelSegmenter, build_model
from dff.ops import flow_warp


def accel(**kw):
    torch.manual_seed(0)
    kw = {"fusion": "score", "update_backbone": "resnet18", "update_channels": 8, **kw}
    return build_model(3, "resnet18", 16, feat_channels=16, flow_width=0.25, arch="accel", **kw).eval()


def perturb_fusion(model):
    torch.nn.init.normal_(model.fusion.weight, std=0.3)
    return model


@pytest.mark.parametrize("fusion", ["score", "feature"])
def test_fusion_starts_as_the_reference_branch(fusion):
    """Identity on the reference part at init: the fused output equals DFF's."""
    model = accel(fusion=fusion)
    key, cur = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        state = model.key(key)
        flow, scale = model.flow_net(cur, key, state.features.shape[-2:])
        warped = flow_warp(state.features, flow, padding_mode="border") * scale
        dff = F.interpolate(model.head(warped), size=(64, 64), mode="bilinear", align_corners=False)
        assert torch.allclose(model.logits(model.propagate(state, cur)), dff, atol=1e-5)


def test_score_fusion_is_a_1x1_conv_over_reference_and_update_scores():
    model = perturb_fusion(accel())
    assert model.fusion.in_channels == 6 and model.fusion.out_channels == 3
    key, cur = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        state = model.key(key)
        prop = model.propagate(state, cur)
        ref = model.head(prop.features)
        upd = model.update(cur)
        assert upd.shape == ref.shape == (2, 3, 4, 6)  # both at stride 16 here
        fused = model.fusion(torch.cat([ref, upd], 1))
        expect = F.interpolate(fused, size=(64, 96), mode="bilinear", align_corners=False)
        assert torch.allclose(model.logits(prop), expect, atol=1e-5)
        # key frames: the reference branch alone, whatever the fusion weights
        ref_key = F.interpolate(model.head(state.features), size=(64, 96), mode="bilinear", align_corners=False)
        assert torch.allclose(model.logits(state, (64, 96)), ref_key, atol=1e-6)


def test_feature_fusion_concatenates_features_then_shares_the_head():
    model = perturb_fusion(accel(fusion="feature", update_backbone="mobilenet_v3_small"))
    assert model.fusion.in_channels == 16 + 8 and model.fusion.out_channels == 16
    key, cur = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        prop = model.propagate(model.key(key), cur)
        upd = model.update.features(cur)
        fused = model.head(model.fusion(torch.cat([prop.features, upd], 1)))
        expect = F.interpolate(fused, size=(64, 64), mode="bilinear", align_corners=False)
        assert torch.allclose(model.logits(prop), expect, atol=1e-5)


def test_update_branch_at_another_stride_is_resized_to_the_reference_grid():
    model = perturb_fusion(accel(update_backbone="mobilenet_v3_small", update_output_stride=32))
    with torch.no_grad():
        out = model.logits(model.propagate(model.key(torch.rand(1, 3, 64, 64)), torch.rand(1, 3, 64, 64)))
    assert out.shape == (1, 3, 64, 64)


def test_training_forward_uses_reference_at_offset_0_and_fusion_elsewhere():
    model = perturb_fusion(accel(propagation="chained"))
    clip = torch.rand(2, 3, 3, 64, 64)
    out = model(clip, torch.tensor([0, 2]))
    with torch.no_grad():
        state = model.key(clip[:, 0])
        key_logits = model.logits(state, (64, 64))
        for i in (1, 2):
            state = model.propagate(state, clip[:, i])
        assert torch.allclose(out[0], key_logits[0], atol=1e-5)
        assert torch.allclose(out[1], model.logits(state)[1], atol=1e-5)
    out.sum().backward()
    assert model.fusion.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.update.parameters())


def test_per_frame_gives_each_branch_on_its_own():
    model = accel()
    frame = torch.rand(1, 3, 64, 64)
    assert list(model.branches) == ["reference", "update"]
    with torch.no_grad():
        ref, upd = (model.branch_logits(n, frame) for n in model.branches)
        assert torch.allclose(ref, model.logits(model.key(frame), (64, 64)))
        assert torch.allclose(upd, F.interpolate(model.update(frame), size=(64, 64), mode="bilinear", align_corners=False))


def test_update_feature_conv_may_be_1x1():
    model = accel(update_backbone="mobilenet_v3_small", update_output_stride=32, update_kernel=1)
    assert model.update.feature_conv[0].kernel_size == (1, 1)
    assert model.update.feature_conv[0].in_channels == 576
    with torch.no_grad():
        out = model.logits(model.propagate(model.key(torch.rand(1, 3, 64, 64)), torch.rand(1, 3, 64, 64)))
    assert out.shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="kernel_size must be 1 or 3"):
        accel(update_kernel=5)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="score, feature"):
        accel(fusion="sum")
    with pytest.raises(ValueError, match="dff, accel"):
        build_model(3, arch="clockwork")
    assert isinstance(accel(), AccelSegmenter)


def test_update_branch_input_scale_runs_on_the_resized_frame():
    torch.manual_seed(0)
    half = build_model(2, "resnet18", 16, feat_channels=8, arch="accel", update_channels=8,
                       update_scale=0.5).eval()
    full = build_model(2, "resnet18", 16, feat_channels=8, arch="accel", update_channels=8).eval()
    full.load_state_dict(half.state_dict())
    x = torch.rand(1, 3, 64, 96)
    small = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        assert half.update(x).shape[-2:] == (2, 3)  # 32x48 input at stride 16
        assert torch.allclose(half.update(x), full.update(small), atol=1e-6)
        assert half.branch_logits("update", x).shape == (1, 2, 64, 96)
    with pytest.raises(ValueError, match="input_scale"):
        build_model(2, arch="accel", update_scale=0.0)
