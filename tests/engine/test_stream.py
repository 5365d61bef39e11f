import random

import pytest
import torch

from dff.engine.stream import AdaptivePolicy, FixedPolicy, ProbePolicy, StreamSegmenter, build_policy, motion_fit
from dff.models import build_model
from dff.ops import flow_warp, resize_flow


def tiny_model():
    torch.manual_seed(0)
    return build_model(2, "resnet18", 8, feat_channels=8, flow_width=0.25).eval()


def test_key_every_k_frames_and_outputs_match_the_model():
    model = tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(7)]
    runner = StreamSegmenter(model, 3)
    outs = [runner.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, True, False, False, True]
    assert (runner.frames, runner.keys) == (7, 3)
    with torch.no_grad():
        state = model.forward_key(frames[3])
        assert torch.allclose(outs[3][0], model.forward_state(state, (32, 48)))
        assert torch.allclose(outs[5][0], model.forward_propagate(frames[5], state))
    runner.reset()
    assert runner.step(frames[1])[1] is True and runner.last_flow is None
    runner.step(frames[2])
    assert runner.last_flow.shape == (1, 2, 4, 6)


def test_fixed_policy():
    p = FixedPolicy(3)
    assert [p.is_key(None) for _ in range(7)] == [False, False, True, False, False, True, False]


def test_adaptive_policy_keeps_the_average_rate_and_follows_the_signal():
    p = AdaptivePolicy(5, threshold=1.0)
    rng = random.Random(0)
    keys = [p.is_key(rng.choice([0.0, 5.0])) for _ in range(1000)]
    assert abs(sum(keys) - 200) <= 2
    quiet, busy = AdaptivePolicy(5, 1.0), AdaptivePolicy(5, 1.0)
    q = [i for i in range(30) if quiet.is_key(0.0)]
    b = [i for i in range(30) if busy.is_key(5.0)]
    assert q[0] == 9  # no motion: waits until the budget is full (2 keys' worth)
    assert b[0] == 2  # motion: as soon as half a key frame is saved up, then every 5 frames
    assert [j - i for i, j in zip(b, b[1:])] == [5] * (len(b) - 1)
    assert abs(len(q) - 6) <= 1 and len(b) == 6


def test_adaptive_stream_reuses_its_flow_for_the_warp():
    model = tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(4)]
    runner = StreamSegmenter(model, build_policy("adaptive", 3, threshold=1e9))
    outs = [runner.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, False]  # budget not full before frame 6
    with torch.no_grad():
        state = model.forward_key(frames[0])
        assert torch.allclose(outs[2][0], model.forward_propagate(frames[2], state), atol=1e-6)


def test_bad_policy_arguments():
    with pytest.raises(ValueError, match="key_interval"):
        StreamSegmenter(None, 0)
    with pytest.raises(ValueError, match="fixed, adaptive, probe"):
        build_policy("random", 5)


def tiny_accel(**kw):
    """A tiny Accel model whose fusion mixes both branches (not the reference pass-through init)."""
    torch.manual_seed(0)
    model = build_model(2, "resnet18", 16, feat_channels=8, flow_width=0.25, arch="accel", update_channels=8,
                        **kw).eval()
    torch.nn.init.normal_(model.fusion.weight, std=0.5)
    return model


@pytest.mark.parametrize("propagation", ["direct", "chained"])
def test_accel_stream_gives_reference_on_keys_and_fusion_elsewhere(propagation):
    model = tiny_accel(propagation=propagation)
    frames = [torch.rand(1, 3, 32, 48) for _ in range(3)]
    outs = [runner_out for runner_out, _ in map(StreamSegmenter(model, 3).step, frames)]
    with torch.no_grad():
        key = model.forward_key(frames[0])
        assert torch.allclose(outs[0], model.forward_state(key, (32, 48)))
        one = model.advance(frames[1], key)
        assert torch.allclose(outs[1], model.predict(one), atol=1e-6)
        two = model.advance(frames[2], one if propagation == "chained" else key)
        assert torch.allclose(outs[2], model.predict(two), atol=1e-6)


def test_adaptive_signals_measure_the_distance_to_the_key():
    model = tiny_model()
    key = torch.rand(1, 3, 32, 48)
    shifted = torch.roll(key, 1, dims=-1)
    seen = {}
    for signal in ("flow", "residual", "difference"):
        policy = build_policy("adaptive", 3, threshold=1e9, signal=signal)
        runner = StreamSegmenter(model, policy)
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
    runner = StreamSegmenter(model, build_policy("adaptive", 2, threshold=0.5, signal="difference"))
    keys = [runner.step(f)[1] for f in [a, a, a, b, b, b]]
    assert keys == [True, False, False, True, False, False]  # the cut at frame 3, not every 2nd


def test_unknown_signal_lists_the_valid_ones():
    with pytest.raises(ValueError, match="flow, residual, difference"):
        build_policy("adaptive", 5, signal="entropy")


@pytest.mark.parametrize("fusion", ["score", "feature"])
def test_disagreement_signal_is_the_previous_frames_reference_update_disagreement(fusion):
    model = tiny_accel(fusion=fusion)
    frames = [torch.rand(1, 3, 64, 96) for _ in range(4)]
    policy = build_policy("adaptive", 3, threshold=1e9, signal="disagreement")
    runner = StreamSegmenter(model, policy)
    seen = []
    policy.is_key = lambda s, f=policy.is_key: seen.append(s) or f(s)
    outs = [runner.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, False]
    with torch.no_grad():
        key = model.forward_key(frames[0])
        expect = []
        for i in (1, 2):
            state = model.advance(frames[i], key)
            # The output is still the fused prediction.
            assert torch.allclose(outs[i][0], model.predict(state), atol=1e-6)
            upd = model.update_output(frames[i], state["feat"].shape[-2:])
            ref = model.head(state["feat"]).argmax(1)
            own = (upd if fusion == "score" else model.update.head(upd)).argmax(1)
            expect.append(float((ref != own).float().mean()))
    # Frame 1 decides on the key frame's 0; frames 2 and 3 on frames 1 and 2's disagreement.
    assert seen == [0.0, pytest.approx(expect[0]), pytest.approx(expect[1])]
    assert 0.0 < expect[0] < 1.0


def test_disagreement_signal_needs_an_update_branch():
    with pytest.raises(ValueError, match="needs model.arch=accel"):
        StreamSegmenter(tiny_model(), build_policy("adaptive", 3, signal="disagreement"))


def test_uncertainty_signal_is_the_previous_outputs_uncertainty():
    model = tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(4)]
    policy = build_policy("adaptive", 3, threshold=1e9, signal="uncertainty")
    runner = StreamSegmenter(model, policy)
    seen = []
    policy.is_key = lambda s, f=policy.is_key: seen.append(s) or f(s)
    outs = [runner.step(f)[0] for f in frames]
    expect = [float(1 - o.softmax(1).amax(1).mean()) for o in outs]
    # Frame i decides on frame i-1's output, the key frame's included.
    assert seen == [pytest.approx(e) for e in expect[:3]]
    assert all(0.0 < e <= 2 / 3 for e in expect)  # 3 classes: the max probability is at least 1/3


def test_motion_fit_prefers_the_segmentation_that_moves_as_a_unit():
    flow = torch.zeros(2, 20, 30)
    flow[0, 5:15, 10:20] = 3.0  # a square moving right on a still background
    flow += 0.1 * torch.randn(2, 20, 30, generator=torch.Generator().manual_seed(0))
    exact = torch.zeros(20, 30, dtype=torch.long)
    exact[5:15, 10:20] = 1
    shifted = exact.roll(4, dims=1)
    assert motion_fit(exact, flow) > 50 * motion_fit(shifted, flow) > 0
    assert motion_fit(1 - exact, flow) == pytest.approx(motion_fit(exact, flow))  # names do not matter
    three = exact.clone()
    three[:, :5] = 2  # a third still class: the criterion is averaged over class pairs
    assert motion_fit(three, flow) < motion_fit(exact, flow)
    assert motion_fit(torch.zeros(20, 30, dtype=torch.long), flow) == 0.0
    tiny = torch.zeros(20, 30, dtype=torch.long)
    tiny[0, :3] = 1  # under 4 pixels: skipped, one class left
    assert motion_fit(tiny, flow) == 0.0


def test_probe_policy_refuses_by_margin_and_adopts_when_the_key_gets_too_old():
    p = ProbePolicy(3, margin=0.5, max_gap=9)
    probes = [t for t in range(1, 10) if p.is_key(None)]
    assert probes == [3, 6, 9]  # the fixed schedule
    p.reset()
    [p.is_key(None) for _ in range(3)]
    assert p.adopt(1.0, 1.0) and p.age == 0  # equal fits: the new key
    [p.is_key(None) for _ in range(3)]
    assert not p.adopt(2.0, 1.0)  # log 2 > 0.5: the held key explains the motion better
    [p.is_key(None) for _ in range(3)]
    assert p.age == 6 and not p.adopt(2.0, 1.0)
    [p.is_key(None) for _ in range(3)]
    assert p.adopt(2.0, 1.0)  # 9 + 3 > 9: it would be 12 frames old at the next probe
    assert ProbePolicy(5).max_gap == 15 and build_policy("probe", 4, 0.3).margin == 0.3
    with pytest.raises(ValueError, match="max_gap"):
        ProbePolicy(5, max_gap=3)


@pytest.mark.parametrize("accel", [False, True])
def test_probe_stream_runs_the_key_network_on_schedule_and_outputs_the_chosen_key(accel):
    model = tiny_accel() if accel else tiny_model()
    frames = [torch.rand(1, 3, 32, 48) for _ in range(7)]
    fixed_runner = StreamSegmenter(model, 3)
    fixed = [fixed_runner.step(f) for f in frames]
    always = StreamSegmenter(model, ProbePolicy(3, margin=float("inf")))
    outs = [always.step(f) for f in frames]
    assert [k for _, k in outs] == [k for _, k in fixed] and always.keys == always.key_runs == 3
    assert all(torch.allclose(a, b, atol=1e-6) for (a, _), (b, _) in zip(outs, fixed))
    never = StreamSegmenter(model, ProbePolicy(3, margin=-float("inf"), max_gap=6))
    outs = [never.step(f) for f in frames]
    assert [k for _, k in outs] == [True, False, False, False, False, False, True]  # 3 refused; 6 forced
    assert (never.keys, never.key_runs) == (2, 3)
    with torch.no_grad():
        key = model.forward_key(frames[0])
        assert torch.allclose(outs[3][0], model.predict(model.advance(frames[3], key)), atol=1e-6)
        assert torch.allclose(outs[5][0], model.predict(model.advance(frames[5], key)), atol=1e-6)
        assert torch.allclose(outs[6][0], model.forward_state(model.forward_key(frames[6]), (32, 48)), atol=1e-6)


def test_probe_fits_score_the_segmentation_on_the_moving_object_higher():
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    smooth = lambda *s: F.interpolate(torch.rand(1, 3, *s, generator=g), scale_factor=4, mode="bilinear")
    background, square = smooth(24, 32), smooth(8, 8)

    def frame(x):
        f = background.clone()
        f[..., 32:64, x:x + 32] = square
        return f

    previous, current = frame(40), frame(46)
    on = torch.full((1, 2, 24, 32), -1.0)
    on[0, 1, 8:16, 11:19] = 1.0  # class 1 where the square is now (feature grid 1/4)
    off = on.roll(4, dims=-1)  # 16 px beside it: a held key that lags the motion
    held, new = ProbePolicy(3).fits(current, previous, off, on)
    assert new > 2 * held > 0
