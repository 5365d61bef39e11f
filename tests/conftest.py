"""Shared fixtures: a tiny synthetic video set and a tiny model trained on it for 2 steps; a synthetic
frame pair with its true flow; a DAVIS layout of noise frames."""
from pathlib import Path

import pytest
import torch

from dff.config import load_config
from dff.data.synthetic import generate_sequence, write_synthetic
from layout_fixtures import make_noise_davis

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY = ["data.dataset=synthetic", "data.split_mode=sequences", "data.short_side=48",
        "data.crop_size=[48, 48]", "model.feat_channels=16", "model.flow_width=0.25",
        "model.key_interval=3", "train.iters=2", "train.batch_size=2", "train.val_every=2",
        "train.save_every=2", "train.val_frames=4", "train.log_every=1", "train.warmup_iters=1"]


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "set"
    return write_synthetic(root, {"train": 2, "val": 1}, num_frames=8, size=(48, 64), num_classes=3, seed=1)


@pytest.fixture(scope="session")
def tiny_cfg(synthetic_root) -> dict:
    return load_config(None, TINY + [f"data.root={synthetic_root}"])


@pytest.fixture(scope="session")
def tiny_run(tiny_cfg, tmp_path_factory) -> Path:
    from dff.engine.train import train

    run = tmp_path_factory.mktemp("run")
    train(tiny_cfg, run, device="cpu", progress=False)
    return run


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a whole module (runs compared bitwise must share the thread count;
    and the tests' 2 cores may be shared, where 2 threads each crawl)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def pair():
    """(current, key, ground-truth flow current -> key) from the synthetic generator (flow tests)."""
    s = generate_sequence(3, 3, (96, 128), 4)
    frames = torch.from_numpy(s["frames"]).permute(0, 3, 1, 2).float() / 255
    return frames[2:3], frames[1:2], torch.from_numpy(s["flow"][2]).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def noise_davis(tmp_path_factory):
    """The noise DAVIS layout with no mask on alpha's frame 8."""
    return make_noise_davis(tmp_path_factory.mktemp("davis"), missing={("alpha", 8)})
