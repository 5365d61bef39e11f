"""train.ema: the weight average follows its formula, is what a checkpoint's model holds, and resumes exactly."""

import pytest
import torch

from dff.config import merge
from dff.engine.checkpoint import load_checkpoint
from dff.engine.train import train
from dff.engine.train.ema import WeightAverage

pytestmark = pytest.mark.usefixtures("one_thread")

EMA = {"data": {"scale_range": [0.8, 1.2]},
       "train": {"iters": 5, "batch_size": 6, "save_every": 3, "val_every": 5, "val_frames": 4, "ema": 0.9}}


def test_average_follows_the_decay_ramp_and_copies_integer_buffers():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(net, 0.5)
    w0 = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net[1].num_batches_tracked.fill_(7)
    avg.update(net)  # first update: decay min(0.5, 2 / 11)
    d = 2 / 11
    assert torch.allclose(avg.model[0].weight, d * w0 + (1 - d) * (w0 + 1))
    assert int(avg.model[1].num_batches_tracked) == 7
    for _ in range(20):  # past the ramp the decay is 0.5 and the average converges to the weights
        avg.update(net)
    assert torch.allclose(avg.model[0].weight, net[0].weight, atol=1e-5)
    assert not avg.model.training and not any(p.requires_grad for p in avg.model.parameters())
    with pytest.raises(ValueError, match="train.ema must lie in"):
        WeightAverage(net, 1.0)


@pytest.fixture(scope="module")
def cfg(tiny_cfg):
    return merge(tiny_cfg, EMA)


def test_checkpoint_holds_the_average_and_resumes_exactly(cfg, tmp_path):
    straight, run = tmp_path / "straight", tmp_path / "run"
    train(cfg, straight, device="cpu", progress=False)
    last = load_checkpoint(straight / "last.pt")
    assert last["ema_updates"] == 5
    moved = [k for k, v in last["model"].items() if v.is_floating_point() and not torch.equal(v, last["train_model"][k])]
    assert moved  # the average lags the trained weights
    best = load_checkpoint(straight / "best.pt")  # validated on the average
    assert all(torch.equal(best["model"][k], v) for k, v in last["model"].items())

    train(cfg, run, device="cpu", progress=False, stop_after=4)
    train(cfg, run, device="cpu", progress=False, resume=run / "ckpt_000003.pt")
    resumed = load_checkpoint(run / "last.pt")
    for part in ("model", "train_model"):
        for k, v in last[part].items():
            assert torch.equal(v, resumed[part][k]), (part, k)
    assert resumed["ema_updates"] == 5
