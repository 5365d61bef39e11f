from dff.models import build_flow_net


def test_raft_small_is_trainable_and_returns_the_requested_grid(pair):
    cur, key, _ = pair
    net = build_flow_net("raft_small", raft_updates=2)
    flow, scale = net(cur[:, :, :50, :70], key[:, :, :50, :70], (7, 9))  # odd, not /8
    assert flow.shape == (1, 2, 7, 9) and scale is None
    flow.square().mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
