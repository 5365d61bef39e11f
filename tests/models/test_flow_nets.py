import pytest
import torch

from dff.data.synthetic import generate_sequence
from dff.models import build_flow_net
from dff.models.flow_nets import DISFlow


@pytest.fixture(scope="module")
def pair():
    """(current, key, ground-truth flow current -> key) from the synthetic generator."""
    s = generate_sequence(3, 3, (96, 128), 4)
    frames = torch.from_numpy(s["frames"]).permute(0, 3, 1, 2).float() / 255
    return frames[2:3], frames[1:2], torch.from_numpy(s["flow"][2]).permute(2, 0, 1)[None]


def epe(flow, gt):
    return (flow - gt).norm(dim=1).mean().item()


def test_zero_flow(pair):
    cur, key, _ = pair
    flow, scale = build_flow_net("zero")(cur, key, (12, 16))
    assert scale is None and flow.shape == (1, 2, 12, 16) and not flow.any()


@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_dis_finds_the_true_motion_direction(pair, preset):
    cur, key, gt = pair
    net = DISFlow(preset, input_scale=1.0).eval()
    flow, scale = net(cur, key, (96, 128))
    assert scale is None
    # Sign and axis conventions wrong would make DIS worse than no motion at all.
    assert epe(flow, gt) < 0.7 * epe(torch.zeros_like(gt), gt)
    small, _ = DISFlow(preset).eval()(cur, key, (48, 64))
    assert epe(small, gt[..., ::2, ::2] / 2) < 0.7 * epe(torch.zeros_like(gt), gt) / 2


def test_dis_refuses_training_and_bad_presets(pair):
    cur, key, _ = pair
    with pytest.raises(RuntimeError, match="cannot be trained"):
        build_flow_net("dis").train()(cur, key, (12, 16))
    with pytest.raises(ValueError, match="ultrafast, fast, medium"):
        build_flow_net("dis", dis_preset="slow")
    with pytest.raises(ValueError, match="flownets_lite, raft_small, dis, zero"):
        build_flow_net("pwc")


def test_raft_small_is_trainable_and_returns_the_requested_grid(pair):
    cur, key, _ = pair
    net = build_flow_net("raft_small", raft_updates=2)
    flow, scale = net(cur[:, :, :50, :70], key[:, :, :50, :70], (7, 9))  # odd, not /8
    assert flow.shape == (1, 2, 7, 9) and scale is None
    flow.square().mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
