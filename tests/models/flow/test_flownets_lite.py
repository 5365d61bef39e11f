import pytest
import torch

from dff.models import FlowNetSLite, build_flow_net


@pytest.mark.parametrize("size,out", [((64, 96), (8, 12)), ((57, 83), (8, 11)), ((48, 48), (12, 12))])
def test_shapes_on_odd_and_non_square_sizes(size, out):
    net = FlowNetSLite(scale_channels=16, width=0.25)
    flow, scale = net(torch.rand(2, 3, *size), torch.rand(2, 3, *size), out)
    assert flow.shape == (2, 2, *out) and scale.shape == (2, 16, *out)


def test_scale_field_starts_at_exactly_one():
    net = FlowNetSLite(scale_channels=8, width=0.25)
    flow, scale = net(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), (8, 8))
    assert torch.equal(scale, torch.ones_like(scale))
    assert flow.abs().max() < 0.1  # near-zero flow at initialisation: DFF starts by copying


def test_without_scale_field():
    net = FlowNetSLite(scale_channels=0, width=0.25)
    _, scale = net(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), (4, 4))
    assert scale is None


def test_flow_is_trainable_through_every_layer():
    net = FlowNetSLite(scale_channels=4, width=0.25)
    flow, scale = net(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), (8, 8))
    (flow.square().sum() + scale.sum()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    # predict5..3 feed the finest level only through the upsampled coarse flow: still used.
    assert missing == []


def test_flownets_lite_cost_falls_with_flow_scale():
    from torch.utils.flop_counter import FlopCounterMode

    def flops(scale):
        net = build_flow_net("flownets_lite", input_scale=scale).eval()
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            net(torch.rand(1, 3, 128, 192), torch.rand(1, 3, 128, 192), (8, 12))
        return fc.get_total_flops()

    assert flops(0.25) < 0.3 * flops(0.5)
