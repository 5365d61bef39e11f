import pytest
import torch

from dff.data.synthetic import generate_sequence
from dff.models import build_flow_net


def _oracle(flows, size=(20, 30), seed=0):
    """Oracle over one clip of random frames with the given one-step flows (t -> t-1)."""
    g = torch.Generator().manual_seed(seed)
    frames = {t: torch.randint(0, 256, (3, *size), generator=g, dtype=torch.uint8) for t in range(len(flows))}
    net = build_flow_net("oracle").eval()
    net.add_clip(frames, dict(enumerate(flows)))
    return net, {t: f.float()[None] / 255 for t, f in frames.items()}


def test_oracle_composes_one_step_flows_from_current_back_to_key():
    h, w = 20, 30
    x = torch.arange(w, dtype=torch.float32).expand(h, w)
    step = torch.stack([0.1 * x, torch.full((h, w), -0.5)])  # u grows with x: composition matters
    net, frames = _oracle([torch.zeros(2, h, w)] + [step] * 3)
    with torch.no_grad():
        one, scale = net(frames[3], frames[2], (h, w))
        two, _ = net(frames[3], frames[1], (h, w))
        same, _ = net(frames[2], frames[2], (h, w))
    assert scale is None and torch.equal(one[0], step) and not same.any()
    # x -> 1.1 x -> 1.21 x: u = 0.21 x where 1.1 x stays inside the frame; v adds up
    inside = x * 1.1 < w - 1
    assert torch.allclose(two[0, 0][inside], 0.21 * x[inside], atol=1e-4)
    assert torch.allclose(two[0, 1], torch.full((h, w), -1.0))
    small, _ = net(frames[3], frames[2], (10, 15))  # another grid: values rescaled
    assert small.shape == (1, 2, 10, 15) and torch.allclose(small[0, 1], torch.full((10, 15), -0.25))


def test_oracle_on_the_generator_warps_key_onto_current():
    from dff.ops import flow_warp

    s = generate_sequence(4, 5, (48, 64), 3)
    frames = torch.from_numpy(s["frames"]).permute(0, 3, 1, 2).contiguous()
    net = build_flow_net("oracle").eval()
    net.add_clip(dict(enumerate(frames)), {t: torch.from_numpy(f).permute(2, 0, 1) for t, f in enumerate(s["flow"])})
    cur, key = frames[4:5].float() / 255, frames[2:3].float() / 255
    visible = torch.from_numpy((s["occ"][4] == 0) & (s["occ"][3] == 0))
    with torch.no_grad():
        flow, _ = net(cur, key, (48, 64))
    err = (flow_warp(key, flow) - cur).abs().mean(1)[0][visible].mean()
    err0 = (key - cur).abs().mean(1)[0][visible].mean()
    assert err < 0.3 * err0


def test_oracle_refuses_unknown_frames_wrong_order_and_training():
    net, frames = _oracle([torch.zeros(2, 20, 30)] * 3)
    with pytest.raises(ValueError, match="not one of the registered dataset frames"):
        net(torch.rand(1, 3, 20, 30), frames[0], (20, 30))
    with pytest.raises(ValueError, match="does not precede"):
        net(frames[0], frames[2], (20, 30))
    with pytest.raises(RuntimeError, match="cannot be trained"):
        net.train()(frames[1], frames[0], (20, 30))
