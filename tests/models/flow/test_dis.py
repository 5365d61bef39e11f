import pytest
import torch

from dff.models import build_flow_net
from dff.models.flow import DISFlow


def epe(flow, gt):
    return (flow - gt).norm(dim=1).mean().item()


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
