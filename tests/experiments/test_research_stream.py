import pytest
import torch

from dff.inference.stream import StreamRunner, runner_for
from dff.ops import flow_warp, resize_flow
from experiments.policies import AdaptivePolicy, ProbePolicy
from tiny_models import tiny_accel, tiny_model


def test_adaptive_stream_reuses_its_flow_for_the_warp():
    model = tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(4)]
    runner = StreamRunner(model, AdaptivePolicy(3, threshold=1e9))
    outs = [runner.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, False]  # budget not full before frame 6
    with torch.no_grad():
        state = model.key(frames[0])
        assert torch.allclose(outs[2][0], model.logits(model.propagate(state, frames[2])), atol=1e-6)


def test_adaptive_signals_measure_the_distance_to_the_key():
    model = tiny_model()
    key = torch.rand(1, 3, 32, 48)
    shifted = torch.roll(key, 1, dims=-1)
    seen = {}
    for signal in ("flow", "residual", "difference"):
        policy = AdaptivePolicy(3, threshold=1e9, signal=signal)
        runner = StreamRunner(model, policy)
        runner.step(key)
        values = []
        policy.is_key = lambda s, f=policy.is_key: values.append(s) or f(s)
        runner.step(key.clone())
        runner.step(shifted)
        seen[signal] = values
    assert seen["difference"][0] == 0.0
    assert seen["difference"][1] == pytest.approx(float((shifted - key).abs().mean()))
    assert seen["residual"][1] > 0.0 and seen["flow"][1] >= 0.0
    with torch.no_grad():  # residual: the photometric error of the key warped by the model's flow
        flow, _ = model.flow_net(key, key, (4, 6))
        expect = (flow_warp(key, resize_flow(flow, (32, 48)), padding_mode="border") - key).abs().mean()
    assert seen["residual"][0] == pytest.approx(float(expect), abs=1e-6)


def test_adaptive_difference_signal_takes_keys_on_scene_changes():
    model = tiny_model()
    a, b = torch.zeros(1, 3, 32, 48), torch.ones(1, 3, 32, 48)
    runner = StreamRunner(model, AdaptivePolicy(2, threshold=0.5, signal="difference"))
    keys = [runner.step(f)[1] for f in [a, a, a, b, b, b]]
    assert keys == [True, False, False, True, False, False]  # the cut at frame 3, not every 2nd


@pytest.mark.parametrize("fusion", ["score", "feature"])
def test_disagreement_signal_is_the_previous_frames_reference_update_disagreement(fusion):
    model = tiny_accel(fusion=fusion)
    frames = [torch.rand(1, 3, 64, 96) for _ in range(4)]
    policy = AdaptivePolicy(3, threshold=1e9, signal="disagreement")
    runner = StreamRunner(model, policy)
    seen = []
    policy.is_key = lambda s, f=policy.is_key: seen.append(s) or f(s)
    outs = [runner.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, False]
    with torch.no_grad():
        key = model.key(frames[0])
        expect = []
        for i in (1, 2):
            state = model.propagate(key, frames[i])
            # The output is still the fused prediction.
            assert torch.allclose(outs[i][0], model.logits(state), atol=1e-6)
            upd = model.update_output(frames[i], state.features.shape[-2:])
            ref = model.head(state.features).argmax(1)
            own = (upd if fusion == "score" else model.update.head(upd)).argmax(1)
            expect.append(float((ref != own).float().mean()))
    # Frame 1 decides on the key frame's 0; frames 2 and 3 on frames 1 and 2's disagreement.
    assert seen == [0.0, pytest.approx(expect[0]), pytest.approx(expect[1])]
    assert 0.0 < expect[0] < 1.0


def test_disagreement_signal_needs_an_update_branch():
    runner = StreamRunner(tiny_model(), AdaptivePolicy(3, signal="disagreement"))
    frame = torch.rand(1, 3, 32, 48)
    runner.step(frame)  # a key: nothing to decide yet
    with pytest.raises(ValueError, match="needs model.arch=accel"):
        runner.step(frame)


def test_uncertainty_signal_is_the_previous_outputs_uncertainty():
    model = tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(4)]
    policy = AdaptivePolicy(3, threshold=1e9, signal="uncertainty")
    runner = StreamRunner(model, policy)
    seen = []
    policy.is_key = lambda s, f=policy.is_key: seen.append(s) or f(s)
    outs = [runner.step(f)[0] for f in frames]
    expect = [float(1 - o.softmax(1).amax(1).mean()) for o in outs]
    # Frame i decides on frame i-1's output, the key frame's included.
    assert seen == [pytest.approx(e) for e in expect[:3]]
    assert all(0.0 < e <= 2 / 3 for e in expect)  # 3 classes: the max probability is at least 1/3


@pytest.mark.parametrize("accel", [False, True])
def test_probe_stream_runs_the_key_network_on_schedule_and_outputs_the_chosen_key(accel):
    model = tiny_accel() if accel else tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(7)]
    fixed_runner = StreamRunner(model, 3)
    fixed = [fixed_runner.step(f) for f in frames]
    always = runner_for(model, ProbePolicy(3, margin=float("inf")))
    outs = [always.step(f) for f in frames]
    assert [k for _, k in outs] == [k for _, k in fixed] and always.stats.keys == always.stats.key_runs == 3
    assert all(torch.allclose(a, b, atol=1e-6) for (a, _), (b, _) in zip(outs, fixed))
    never = runner_for(model, ProbePolicy(3, margin=-float("inf"), max_gap=6))
    outs = [never.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, False, False, False, True]  # 3 refused; 6 forced
    assert (never.stats.keys, never.stats.key_runs) == (2, 3)
    with torch.no_grad():
        key = model.key(frames[0])
        assert torch.allclose(outs[3][0], model.logits(model.propagate(key, frames[3])), atol=1e-6)
        assert torch.allclose(outs[5][0], model.logits(model.propagate(key, frames[5])), atol=1e-6)
        assert torch.allclose(outs[6][0], model.logits(model.key(frames[6]), (32, 48)), atol=1e-6)
