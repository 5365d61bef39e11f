"""Shared fixtures: a tiny synthetic video set and a tiny model trained on it for 2 steps; a synthetic
frame pair with its true flow; a DAVIS layout of noise frames; each video writer backend."""
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from dff.config import load_config
from dff.data.synthetic import generate_sequence, write_synthetic
from layout_fixtures import make_noise_davis

# Property tests draw the same examples on every run (CI included); HYPOTHESIS_PROFILE=explore for new ones.
settings.register_profile("derandomized", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "derandomized"))

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


@pytest.fixture(scope="session")
def segformer_folder(tmp_path_factory):
    """A small random-weight SegFormer with Cityscapes' labels, saved as from_pretrained reads it."""
    transformers = pytest.importorskip("transformers")
    from dff.models.pretrained import CITYSCAPES_NAMES

    config = transformers.SegformerConfig(num_channels=3, num_encoder_blocks=4, depths=[1, 1, 1, 1],
                                          hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 2, 2],
                                          decoder_hidden_size=32, num_labels=19,
                                          id2label=dict(enumerate(CITYSCAPES_NAMES)),
                                          label2id={n: i for i, n in enumerate(CITYSCAPES_NAMES)})
    torch.manual_seed(0)
    net = transformers.SegformerForSemanticSegmentation(config).eval()
    for m in net.modules():  # non-trivial BatchNorm statistics: a wrong split would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("segformer")
    net.save_pretrained(folder)
    return folder, net


@pytest.fixture()
def torchvision_cache(tmp_path, monkeypatch):
    """A torch cache holding lraspp_mobilenet_v3_large's DEFAULT weights file, with random weights:
    torchvision's real loading code runs, offline."""
    import torchvision

    weights = torchvision.models.segmentation.LRASPP_MobileNet_V3_Large_Weights.DEFAULT
    torch.manual_seed(0)
    net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(net.state_dict(), folder / Path(weights.url).name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return net.eval()


@pytest.fixture()
def no_network(monkeypatch):
    """torchvision's weight downloads fail, as without a network (whether or not this machine has one)."""
    import torchvision

    def unreachable(url, *args, **kwargs):
        raise OSError(f"<urlopen error [Errno -3] Temporary failure in name resolution> ({url})")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", unreachable)


@pytest.fixture(params=["mp4v", "h264"])
def codec(request) -> str:
    """Each writer backend; h264 needs PyAV."""
    if request.param == "h264":
        pytest.importorskip("av", reason="codec h264 needs PyAV (pip install 'dff[video]')")
    return request.param
