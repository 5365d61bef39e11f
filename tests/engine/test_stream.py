import pytest
import torch

from dff.engine.stream import StreamSegmenter
from dff.models import build_model


def test_key_every_k_frames_and_outputs_match_the_model():
    torch.manual_seed(0)
    model = build_model(2, "resnet18", 8, feat_channels=8, flow_width=0.25).eval()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(7)]
    runner = StreamSegmenter(model, 3)
    outs = [runner.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, True, False, False, True]
    with torch.no_grad():
        state = model.forward_key(frames[3])
        assert torch.allclose(outs[3][0], model.forward_state(state, (32, 48)))
        assert torch.allclose(outs[5][0], model.forward_propagate(frames[5], state))
    runner.reset()
    assert runner.step(frames[1])[1] is True


def test_bad_interval():
    with pytest.raises(ValueError, match="key_interval"):
        StreamSegmenter(None, 0)
