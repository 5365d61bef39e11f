import pytest
import torch

from dff.models import AccelSegmenter, DFFSegmenter, Segmenter, State, build_model


def test_state_marks_key_frames_and_expands_without_copying():
    frame, feat = torch.rand(1, 3, 16, 24), torch.rand(1, 4, 2, 3)
    key = State(frame, feat)
    assert key.is_key and not State(frame, feat, torch.zeros(1, 2, 2, 3)).is_key
    many = key.expand(5)
    assert many.frame.shape == (5, 3, 16, 24) and many.features.shape == (5, 4, 2, 3) and many.flow is None
    assert many.features.data_ptr() == feat.data_ptr()  # views of the one key state
    with pytest.raises(AttributeError):
        key.frame = frame  # frozen: a held state cannot change under the stream


@pytest.mark.parametrize("arch", ["dff", "accel"])
def test_the_interface_on_every_model(arch):
    torch.manual_seed(0)
    model = build_model(2, "resnet18", 16, feat_channels=8, flow_width=0.25, arch=arch, update_channels=8).eval()
    assert isinstance(model, Segmenter) and model.has_update_branch is (arch == "accel")
    assert isinstance(model, AccelSegmenter if arch == "accel" else DFFSegmenter)
    assert all(hasattr(model, m) for mods in model.branches.values() for m in mods)
    key_frame, frame = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        key = model.key(key_frame)
        state = model.propagate(key, frame)
        assert key.is_key and key.frame is key_frame and key.features.shape == (1, 8, 4, 6)
        assert not state.is_key and state.frame is frame and state.flow.shape == (1, 2, 4, 6)
        assert model.logits(state).shape == (1, 2, 64, 96) and model.logits(key, (32, 48)).shape == (1, 2, 32, 48)
        chained = model.propagate(state, key_frame)  # chained: the caller passes the previous state
        flow, scale = model.flow_net(key_frame, frame, (4, 6))
        assert torch.equal(chained.flow, flow) and torch.allclose(chained.features, model.warp(state.features, flow, scale))


def test_the_base_class_states_the_interface():
    base = Segmenter()
    for call in (lambda: base.key(None), lambda: base.propagate(None, None), lambda: base.logits(None)):
        with pytest.raises(NotImplementedError):
            call()
    with pytest.raises(ValueError, match="direct, chained"):
        Segmenter("skip")
