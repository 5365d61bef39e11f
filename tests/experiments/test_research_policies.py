import random

import numpy as np
import pytest
import torch

from experiments.policies import AdaptivePolicy, ProbePolicy, motion_fit


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


def test_unknown_signal_lists_the_valid_ones():
    with pytest.raises(ValueError, match="flow, residual, difference"):
        AdaptivePolicy(5, signal="entropy")


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
    groups = [flow.flatten(1).T[three.flatten() == c].double().numpy() for c in range(3)]  # direct, per class
    means = [g.mean(0) for g in groups]
    between = np.mean([((means[i] - means[j]) ** 2).sum() for i, j in ((0, 1), (0, 2), (1, 2))])
    assert motion_fit(three, flow) == pytest.approx(between / (np.mean([g.var(0).sum() for g in groups]) + 1e-6), rel=1e-9)
    tiny = torch.zeros(20, 30, dtype=torch.long)
    tiny[0, :3] = 1  # under 4 pixels: skipped, one class left
    assert motion_fit(tiny, flow) == 0.0


def test_probe_policy_refuses_by_margin_and_adopts_when_the_key_gets_too_old():
    p = ProbePolicy(3, margin=0.5, max_gap=9)
    probes = [t for t in range(1, 10) if p.scheduled()]
    assert probes == [3, 6, 9]  # the fixed schedule
    p.reset()
    [p.scheduled() for _ in range(3)]
    assert p.choose(1.0, 1.0) and p.age == 0  # equal fits: the new key
    [p.scheduled() for _ in range(3)]
    assert not p.choose(2.0, 1.0)  # log 2 > 0.5: the held key explains the motion better
    [p.scheduled() for _ in range(3)]
    assert p.age == 6 and not p.choose(2.0, 1.0)
    [p.scheduled() for _ in range(3)]
    assert p.choose(2.0, 1.0)  # 9 + 3 > 9: it would be 12 frames old at the next probe
    assert ProbePolicy(5).max_gap == 15 and ProbePolicy(4, 0.3).margin == 0.3
    with pytest.raises(ValueError, match="max_gap"):
        ProbePolicy(5, max_gap=3)


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
    on = torch.full((1, 2, 96, 128), -1.0)
    on[0, 1, 32:64, 46:78] = 1.0  # class 1 where the square is now
    off = on.roll(16, dims=-1)  # 16 px beside it: a held key that lags the motion
    held, new = ProbePolicy(3).fits(current, previous, off, on)
    assert new > 2 * held > 0
