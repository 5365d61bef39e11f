import pytest
import torch

from dff.inference.policies import build_policy
from dff.inference.stream import StreamRunner
from tiny_models import tiny_accel, tiny_model


def test_key_every_k_frames_and_outputs_match_the_model():
    model = tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(7)]
    runner = StreamRunner(model, 3)
    outs = [runner.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, True, False, False, True]
    assert (runner.stats.frames, runner.stats.keys) == (7, 3)
    with torch.no_grad():
        state = model.key(frames[3])
        assert torch.allclose(outs[3][0], model.logits(state, (32, 48)))
        assert torch.allclose(outs[5][0], model.logits(model.propagate(state, frames[5])))
    runner.reset()
    assert runner.step(frames[1])[1] is True and runner.last_flow is None
    runner.step(frames[2])
    assert runner.last_flow.shape == (1, 2, 4, 6)


def test_bad_policy_arguments():
    with pytest.raises(ValueError, match="key_interval"):
        StreamRunner(None, 0)
    with pytest.raises(ValueError, match="valid: fixed"):
        build_policy("random", 5)


@pytest.mark.parametrize("propagation", ["direct", "chained"])
def test_accel_stream_gives_reference_on_keys_and_fusion_elsewhere(propagation):
    model = tiny_accel(propagation=propagation)
    frames = [torch.rand(1, 3, 32, 48) for _ in range(3)]
    outs = [runner_out for runner_out, _ in map(StreamRunner(model, 3).step, frames)]
    with torch.no_grad():
        key = model.key(frames[0])
        assert torch.allclose(outs[0], model.logits(key, (32, 48)))
        one = model.propagate(key, frames[1])
        assert torch.allclose(outs[1], model.logits(one), atol=1e-6)
        two = model.propagate(one if propagation == "chained" else key, frames[2])
        assert torch.allclose(outs[2], model.logits(two), atol=1e-6)
