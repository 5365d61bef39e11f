import json

import cv2
import numpy as np
import pytest
import torch

from dff.data.clips import Clip
from dff.data.frames import to_float
from dff.data.store import FrameStore
from dff.engine.builders import load_split, load_trained
from dff.engine.checkpoint import load_checkpoint
from dff.engine.evaluate import evaluate, format_table
from dff.engine.metrics import ConfusionMatrix
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


def test_checkpoint_that_does_not_fit_the_config(tiny_run, tiny_cfg, tmp_path):
    cfg = {**tiny_cfg, "model": {**tiny_cfg["model"], "feat_channels": 32}}
    with pytest.raises(ValueError, match="best.pt: the config differs .* model.feat_channels: trained 16, given 32"):
        load_trained(cfg, tiny_run / "best.pt", torch.device("cpu"))
    bare = {k: v for k, v in load_checkpoint(tiny_run / "best.pt").items() if k != "config"}  # an older checkpoint
    torch.save(bare, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="bare.pt: weights do not fit"):
        load_trained(cfg, tmp_path / "bare.pt", torch.device("cpu"))


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
    from dff.inference.policies import build_policy

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


def texture(h: int = 64, w: int = 96) -> np.ndarray:
    """Smooth multi-scale RGB noise: DIS tracks its translation to within ~0.1 px at 4 and 8 px."""
    rng = np.random.default_rng(0)
    img = sum(cv2.resize(rng.random((h // s, w // s, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
              for s in (2, 4, 8))
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def clip_store(folder, frames: list[np.ndarray]) -> FrameStore:
    """A FrameStore of one clip of these frames, written as PNGs at their size, labelled class 0."""
    folder.mkdir()
    paths = [folder / f"{i:05d}.png" for i in range(len(frames))]
    labels = [folder / f"{i:05d}_label.png" for i in range(len(frames))]
    for img, path, label in zip(frames, paths, labels):
        cv2.imwrite(str(path), img)
        cv2.imwrite(str(label), np.zeros(img.shape[:2], np.uint8))
    return FrameStore([Clip("clip", paths, labels, 0, len(frames))], min(frames[0].shape[:2]),
                      lambda p: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))


def direct_agreement(model, store: FrameStore, d: int, keys: list[int]) -> float:
    """mIoU at distance d of each key's propagated prediction against the key network on the frame."""
    cm = ConfusionMatrix(3)
    with torch.no_grad():
        for s in keys:
            if s + d < store.clips[0].end:
                key, cur = (to_float(store.frames[0][i])[None] for i in (s, s + d))
                pred = model.logits(model.propagate(model.key(key), cur)).argmax(1)[0]
                cm.update(pred, model.logits(model.key(cur)).argmax(1)[0])
    return cm.miou()


def test_motion_bins_split_the_scored_pairs(tiny_run, tiny_cfg):
    model, _ = load_trained(tiny_cfg, tiny_run / "best.pt", torch.device("cpu"))
    store = load_split(tiny_cfg, "val")
    plain = evaluate(model, store, 3, 3)
    res = evaluate(model, store, 3, 3, motion_bins=(2.0, 8.0), against_teacher=True)
    assert res["miou_by_distance"] == plain["miou_by_distance"]  # the extras change no mIoU
    bins = res["miou_by_motion"]
    assert res["motion_bins"] == [2.0, 8.0]
    assert [(b["low"], b["high"]) for b in bins] == [(0.0, 2.0), (2.0, 8.0), (8.0, None)]
    assert sum(b["pairs"] for b in bins) == sum(res["frames_by_distance"][1:]) == 13
    assert sum(b["agreement_pairs"] for b in bins) == sum(res["agreement_frames_by_distance"][1:]) == 13
    for b in bins:
        assert (b["miou"] is None) == (b["pairs"] == 0) and (b["agreement"] is None) == (b["agreement_pairs"] == 0)
    table = format_table(res)
    assert "motion 2-8 px" in table and "motion 8+ px" in table and "agree 0-2 px" in table
    with pytest.raises(ValueError, match="increasing positive"):
        evaluate(model, store, 3, 3, motion_bins=(8.0, 2.0))


@pytest.mark.parametrize("propagation", ["direct", "chained"])
def test_motion_bin_of_a_translated_clip(tiny_run, tiny_cfg, tmp_path, propagation):
    """4 px per frame: d = 1 pairs move 4 px (bin 2-6), d = 2 pairs 8 px (bin 6-10); a still clip, 0."""
    from dff.config import merge

    cfg = merge(tiny_cfg, {"model": {"propagation": propagation}})
    model, _ = load_trained(cfg, tiny_run / "best.pt", torch.device("cpu"))
    img = texture()
    moving = clip_store(tmp_path / "moving", [np.roll(img, 4 * i, axis=1) for i in range(4)])
    res = evaluate(model, moving, 3, 3, motion_bins=(2.0, 6.0, 10.0))
    assert [b["pairs"] for b in res["miou_by_motion"]] == [0, 3, 2, 0]
    still = clip_store(tmp_path / "still", [img] * 4)
    res = evaluate(model, still, 3, 3, motion_bins=(2.0, 6.0, 10.0))
    assert [b["pairs"] for b in res["miou_by_motion"]] == [5, 0, 0, 0]


def test_agreement_is_one_when_propagation_copies_the_key(tiny_run, tiny_cfg, tmp_path):
    cfg = {**tiny_cfg, "model": {**tiny_cfg["model"], "flow": "zero"}}
    model, _ = load_trained(cfg, tiny_run / "best.pt", torch.device("cpu"))
    res = evaluate(model, clip_store(tmp_path / "still", [texture()] * 4), 3, 3, against_teacher=True)
    assert res["agreement_by_distance"] == [1.0, 1.0, 1.0] and res["mean_agreement"] == 1.0
    assert res["agreement_frames_by_distance"] == [4, 3, 2]


@pytest.mark.parametrize("max_frames", [0, 4])
def test_agreement_without_labels(tiny_run, tiny_cfg, max_frames):
    """A store without labels: agreement matches a frame-by-frame computation, mIoU is None.
    max_frames=4 keys 0, 2, 4, 6 leaves frames out of the key positions (their teacher is computed apart)."""
    from dataclasses import replace

    from dff.engine.builders import clips_of

    model, _ = load_trained(tiny_cfg, tiny_run / "best.pt", torch.device("cpu"))
    clips = [replace(c, labels=[None] * len(c.labels)) for c in clips_of(tiny_cfg, "val")]
    store = FrameStore(clips, tiny_cfg["data"]["short_side"], lambda p: None)
    res = evaluate(model, store, 3, 3, max_frames=max_frames, against_teacher=True, motion_bins=(2.0,))
    assert all(res[k] is None for k in ("per_frame_miou", "miou_by_distance", "mean_miou", "ratio"))
    assert res["frames_by_distance"] == [0, 0, 0]
    agreement = res["agreement_by_distance"]
    assert agreement[0] == 1.0 and all(0.0 <= a <= 1.0 for a in agreement)
    assert res["mean_agreement"] == pytest.approx(sum(agreement) / 3)
    keys = range(8) if max_frames == 0 else range(0, 8, 2)
    assert res["agreement_frames_by_distance"] == [len(keys)] + [sum(s + d < 8 for s in keys) for d in (1, 2)]
    for d in (1, 2):
        assert agreement[d] == pytest.approx(direct_agreement(model, store, d, list(keys)), abs=1e-9)
    assert all(b["miou"] is None and b["agreement"] is not None for b in res["miou_by_motion"] if b["agreement_pairs"])
    table = format_table(res)
    assert "agree d=2" in table and "agree mean k=3" in table and "DFF d=" not in table and "motion" not in table
