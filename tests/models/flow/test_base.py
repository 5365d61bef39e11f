import pytest
import torch

from dff.models import build_flow_net
from dff.models.flow import FlowNet


def test_zero_flow(pair):
    cur, key, _ = pair
    flow, scale = build_flow_net("zero")(cur, key, (12, 16))
    assert scale is None and flow.shape == (1, 2, 12, 16) and not flow.any()


@pytest.mark.parametrize("name", ["flownets_lite", "raft_small", "dis"])
def test_flow_scale_sets_the_input_resolution_of_each_flow_net(name):
    net = build_flow_net(name, input_scale=0.25)
    assert net.input_scale == 0.25
    assert build_flow_net(name).input_scale == 0.5
    with pytest.raises(ValueError, match="flow_scale must be in"):
        build_flow_net(name, input_scale=0.0)


def test_the_contract_is_checked_on_both_sides():
    class Wrong(FlowNet):
        def estimate(self, current, key, out_size):
            return current.new_zeros(current.shape[0], 2, out_size[0] + 1, out_size[1]), None

    with pytest.raises(ValueError, match="of one shape"):
        build_flow_net("zero")(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9), (4, 4))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        build_flow_net("zero")(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), (4, 4))
    with pytest.raises(RuntimeError, match="broke the flow contract"):
        Wrong()(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), (4, 4))
