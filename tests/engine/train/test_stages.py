"""Accel's staged training: per-frame branches, then fusion with chosen modules frozen."""
import json

import pytest
import torch

from dff.config import ConfigError, merge
from dff.engine.builders import model_from_config
from dff.engine.checkpoint import load_checkpoint
from dff.engine.train import train
from dff.engine.train.loop import init_from

ACCEL = {"arch": "accel", "update_channels": 8, "output_stride": 16}


def staged(cfg, model=None, train_=None):
    return merge(cfg, {"model": {**ACCEL, **(model or {})}, "train": train_ or {}})


@pytest.fixture(scope="module")
def stage1(tiny_cfg, tiny_run, tmp_path_factory):
    """Per-frame training of both branches, the reference seeded from the DFF run."""
    run = tmp_path_factory.mktemp("stage1")
    cfg = staged(tiny_cfg, {"output_stride": 8, "load_from": str(tiny_run / "best.pt")},
                 {"objective": "per_frame"})
    train(cfg, run, device="cpu", progress=False)
    return run


def test_stage1_reports_what_the_dff_checkpoint_lacks(stage1):
    (report,) = json.loads((stage1 / "load_from.json").read_text())
    assert report["unexpected"] == [] and report["mismatched"] == []
    assert report["missing"] and {k.split(".")[0] for k in report["missing"]} == {"update", "fusion"}
    assert report["loaded"] > 0


def test_stage2_trains_only_what_is_not_frozen(tiny_cfg, stage1, tmp_path):
    frozen = ["backbone", "feature_conv", "head", "update"]
    cfg = staged(tiny_cfg, {"output_stride": 8, "load_from": str(stage1 / "best.pt")}, {"freeze": frozen})
    train(cfg, tmp_path, device="cpu", progress=False)
    (report,) = json.loads((tmp_path / "load_from.json").read_text())
    assert report["missing"] == report["unexpected"] == report["mismatched"] == []
    before, after = load_checkpoint(stage1 / "best.pt")["model"], load_checkpoint(tmp_path / "last.pt")["model"]
    for k, v in after.items():  # BN running statistics included
        if k.split(".")[0] in frozen:
            assert torch.equal(v, before[k]), k
    assert not torch.equal(after["fusion.weight"], before["fusion.weight"])
    assert not torch.equal(after["flow_net.predict2.weight"], before["flow_net.predict2.weight"])


def test_shape_mismatches_are_reported_not_loaded(tiny_cfg, tiny_run, capsys):
    cfg = merge(tiny_cfg, {"model": {"feat_channels": 32, "num_classes": 3}})
    model = model_from_config(cfg, 3)
    (report,) = init_from(model, tiny_run / "best.pt")
    assert "feature_conv.0.weight" in report["mismatched"] and "head.cls.weight" in report["mismatched"]
    assert "mismatched keys" in capsys.readouterr().out
    trained = load_checkpoint(tiny_run / "best.pt")["model"]
    assert torch.equal(model.backbone.stem[0].weight, trained["backbone.stem.0.weight"])


def test_a_submodule_frozen_by_dotted_name_keeps_weights_and_statistics(tiny_cfg, tmp_path):
    """train.freeze=[backbone.stem]: the first layers fixed (their backward pass spared), the rest trains."""
    cfg = merge(tiny_cfg, {"train": {"freeze": ["backbone.stem"], "val_every": 0, "save_every": 1, "keep_last": 3}})
    train(cfg, tmp_path, device="cpu", progress=False)
    one, two = (load_checkpoint(tmp_path / f"ckpt_00000{i}.pt")["model"] for i in (1, 2))
    moved = {k for k in one if one[k].is_floating_point() and not torch.equal(one[k], two[k])}
    assert moved and not [k for k in moved if k.startswith("backbone.stem.")]
    assert [k for k in moved if k.startswith("backbone.") and "running_mean" in k]  # BN statistics elsewhere
    assert [k for k in one if k.startswith("backbone.stem.") and "running_mean" in k]


def test_bad_freeze_or_objective_names_list_the_valid_ones(tiny_cfg, tmp_path):
    with pytest.raises(ConfigError, match="unknown module.*valid: backbone, feature_conv, flow_net, head, normalize or their "
                                          r"submodules by dotted name \(backbone.stem\)"):
        train(merge(tiny_cfg, {"train": {"freeze": ["trunk"]}}), tmp_path, device="cpu", progress=False)
    with pytest.raises(ConfigError, match="unknown module.s. backbone.trunk"):
        train(merge(tiny_cfg, {"train": {"freeze": ["backbone.trunk"]}}), tmp_path, device="cpu", progress=False)
    with pytest.raises(ConfigError, match="must be one of `propagated`, `per_frame`"):
        train(merge(tiny_cfg, {"train": {"objective": "both"}}), tmp_path, device="cpu", progress=False)
    everything = ["backbone", "feature_conv", "flow_net", "head"]
    with pytest.raises(ConfigError, match="no parameter to train"):
        train(merge(tiny_cfg, {"train": {"freeze": everything}}), tmp_path, device="cpu", progress=False)


def test_per_frame_with_the_reference_frozen_trains_the_update_branch_only(tiny_cfg, tiny_run, tmp_path):
    reference = ["backbone", "feature_conv", "head"]
    cfg = staged(tiny_cfg, {"output_stride": 8, "load_from": str(tiny_run / "best.pt")},
                 {"objective": "per_frame", "freeze": reference})
    train(cfg, tmp_path, device="cpu", progress=False)
    before, ckpt = load_checkpoint(tiny_run / "best.pt")["model"], load_checkpoint(tmp_path / "last.pt")
    for k, v in ckpt["model"].items():
        if k.split(".")[0] in reference:
            assert torch.equal(v, before[k]), k
    model = model_from_config(cfg, 3)
    trainable = sum(1 for m in ("update", "flow_net", "fusion") for _ in getattr(model, m).parameters())
    stepped = len(ckpt["optimizer"]["state"])  # parameters that received a gradient
    assert stepped == sum(1 for _ in model.update.parameters()) < trainable
    with pytest.raises(ConfigError, match="every branch is frozen"):
        train(merge(cfg, {"train": {"freeze": reference + ["update"]}}), tmp_path / "x", device="cpu",
              progress=False)
