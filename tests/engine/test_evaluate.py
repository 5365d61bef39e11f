import json

import pytest
import torch

from dff.engine.builders import load_split, load_trained
from dff.engine.checkpoint import load_checkpoint
from dff.engine.evaluate import evaluate, format_table
from dff.engine.train import train
from dff.engine.train.optim import lr_factor


def test_train_writes_run_directory(tiny_run, tiny_cfg):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.yaml", "last.pt", "best.pt", "metrics.jsonl"} <= names
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(tiny_run / name, weights_only=True)
        assert ckpt["iteration"] == 2 and ckpt["num_classes"] == 3
        assert ckpt["config"]["model"]["num_classes"] == 3  # resolved from the dataset
    lines = [json.loads(l) for l in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [l["iter"] for l in lines if "loss" in l] == [1, 2]
    assert any("val" in l for l in lines)


def test_eval_counts_only_keys_inside_the_split(tiny_run, tiny_cfg):
    model, ckpt = load_trained(tiny_cfg, tiny_run / "best.pt", torch.device("cpu"))
    store = load_split(tiny_cfg, "val")
    res = evaluate(model, store, 3, ckpt["num_classes"])
    n = len(store.targets())  # one val clip of 8 frames, all labelled
    assert n == 8
    assert res["frames_by_distance"] == [8, 7, 6]
    assert res["per_frame_miou"] == res["miou_by_distance"][0]
    assert res["mean_miou"] == pytest.approx(sum(res["miou_by_distance"]) / 3)
    assert res["ratio"] == pytest.approx(res["mean_miou"] / res["per_frame_miou"])
    assert "DFF d=2" in format_table(res)


def test_eval_matches_a_direct_computation(tiny_run, tiny_cfg):
    """Distance-2 mIoU equals scoring each frame t propagated from its key t-2, one by one."""
    from dff.data.store import to_float
    from dff.engine.metrics import ConfusionMatrix

    model, ckpt = load_trained(tiny_cfg, tiny_run / "best.pt", torch.device("cpu"))
    store = load_split(tiny_cfg, "val")
    cm = ConfusionMatrix(3)
    with torch.no_grad():
        for c, t in store.targets():
            if t - 2 < store.clips[c].start:
                continue
            state = model.key(to_float(store.frames[c][t - 2])[None])
            pred = model.logits(model.propagate(state, to_float(store.frames[c][t])[None])).argmax(1)[0]
            cm.update(pred, store.labels[c][t])
    res = evaluate(model, store, 3, 3)
    assert res["miou_by_distance"][2] == pytest.approx(cm.miou(), abs=1e-9)


def test_lr_schedule():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(99, 100, 10) < 0.05


def test_batch_larger_than_dataset_is_a_clear_error(tiny_cfg, tmp_path):
    cfg = {**tiny_cfg, "train": {**tiny_cfg["train"], "batch_size": 1000}}
    with pytest.raises(ValueError, match="batch_size 1000 exceeds"):
        train(cfg, tmp_path, device="cpu", progress=False)


def test_checkpoint_that_does_not_fit_the_config(tiny_run, tiny_cfg):
    cfg = {**tiny_cfg, "model": {**tiny_cfg["model"], "feat_channels": 32}}
    with pytest.raises(ValueError, match="best.pt: weights do not fit"):
        load_trained(cfg, tiny_run / "best.pt", torch.device("cpu"))


@pytest.mark.parametrize("flow", ["zero", "dis"])
def test_flow_network_swapped_at_evaluation(tiny_run, tiny_cfg, flow, capsys):
    cfg = {**tiny_cfg, "model": {**tiny_cfg["model"], "flow": flow}}
    model, ckpt = load_trained(cfg, tiny_run / "best.pt", torch.device("cpu"))
    assert "flow network swapped" in capsys.readouterr().out
    trained = load_checkpoint(tiny_run / "best.pt")["model"]
    assert torch.equal(model.backbone.layer1[0].conv1.weight, trained["backbone.layer1.0.conv1.weight"])
    res = evaluate(model, load_split(cfg, "val"), 3, ckpt["num_classes"])
    assert len(res["miou_by_distance"]) == 3


def test_stream_evaluation_reports_key_rate(tiny_run, tiny_cfg):
    from dff.engine.evaluate import evaluate_stream
    from dff.engine.policies import build_policy

    model, _ = load_trained(tiny_cfg, tiny_run / "best.pt", torch.device("cpu"))
    store = load_split(tiny_cfg, "val")
    res = evaluate_stream(model, store, build_policy("fixed", 3), 3)
    assert (res["frames"], res["key_frames"]) == (8, 3)  # keys at 0, 3, 6
    assert 0.0 <= res["miou"] <= 1.0
    full = evaluate_stream(model, store, build_policy("fixed", 1), 3)
    assert full["miou"] == pytest.approx(evaluate(model, store, 1, 3)["per_frame_miou"])


def test_oracle_flow_at_evaluation_uses_the_ground_truth(tiny_run, tiny_cfg, tmp_path):
    import shutil

    from dff.config import merge
    from dff.engine.builders import attach_ground_truth_flow

    cfg = merge(tiny_cfg, {"model": {"flow": "oracle"}})
    model, ckpt = load_trained(cfg, tiny_run / "best.pt", torch.device("cpu"))
    store = load_split(cfg, "val")
    with pytest.raises(ValueError, match="not one of the registered dataset frames"):
        evaluate(model, store, 3, 3)
    attach_ground_truth_flow(model, store)
    res = evaluate(model, store, 3, 3)
    assert res["frames_by_distance"] == [8, 7, 6]
    # a set without flow files: the error names the missing file
    root = tmp_path / "noflow"
    shutil.copytree(cfg["data"]["root"], root)
    missing = next((root / "val").iterdir()) / "flow" / "00003.flo"
    missing.unlink()
    bare = merge(cfg, {"data": {"root": str(root)}})
    with pytest.raises(FileNotFoundError, match="00003.flo: no ground-truth flow"):
        attach_ground_truth_flow(load_trained(bare, tiny_run / "best.pt", torch.device("cpu"))[0],
                                 load_split(bare, "val"))


def test_accel_evaluation_scores_the_update_branch_alone(tiny_cfg, tmp_path):
    from dff.config import merge

    cfg = merge(tiny_cfg, {"model": {"arch": "accel", "update_channels": 8}})
    train(cfg, tmp_path, device="cpu", progress=False)
    model, ckpt = load_trained(cfg, tmp_path / "best.pt", torch.device("cpu"))
    res = evaluate(model, load_split(cfg, "val"), 3, 3)
    assert res["model"] == "Accel" and 0.0 <= res["update_miou"] <= 1.0
    table = format_table(res)
    assert "Accel d=2" in table and "update alone" in table
