"""train.objective flow (ground-truth flow pretraining) and distill (label-free), and their data."""
import json
import random

import pytest
import torch
import torch.nn.functional as F

from dff.config import ConfigError, merge
from dff.data.flow_pairs import FlowPairDataset, read_ground_truth
from dff.engine.builders import load_split, model_from_config
from dff.engine.checkpoint import load_checkpoint
from dff.engine.flow_epe import evaluate_flow
from dff.engine.train.loop import init_from, seed_everything, train
from dff.engine.train.objective import FLOW_LEVEL_WEIGHTS, TrainForward, flow_epe_terms, lovasz_softmax, soft_kl
from dff.models.flow import DISFlow, ZeroFlow
from dff.ops import flow_warp, resize_flow


def _target(flow: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return torch.cat([flow, valid[:, None]], 1)


def test_flow_epe_is_zero_for_the_truth_and_the_offset_in_frame_pixels():
    torch.manual_seed(0)
    flow = torch.randn(2, 2, 64, 96) * 5
    valid = torch.ones(2, 64, 96)
    sizes = [(4, 6), (8, 12), (16, 24), (32, 48)]
    truth = [resize_flow(flow, s) for s in sizes]
    terms = flow_epe_terms(truth, _target(flow, valid))
    assert list(terms) == ["epe5", "epe4", "epe3", "epe2"]
    assert all(v.item() < 1e-3 * valid.sum() for v in terms.values())
    # a 3-frame-pixel error in u at every level: each term is its weight x 3 x the valid pixels
    off = [t + torch.tensor([3 * s[1] / 96, 0.0]).view(1, 2, 1, 1) for t, s in zip(truth, sizes)]
    terms = flow_epe_terms(off, _target(flow, valid))
    for (name, v), w in zip(terms.items(), FLOW_LEVEL_WEIGHTS):
        assert v.item() / valid.sum().item() == pytest.approx(3 * w, rel=1e-3), name


def test_flow_epe_ignores_occluded_pixels():
    flow = torch.zeros(1, 2, 32, 32)
    valid = torch.ones(1, 32, 32)
    valid[..., :16] = 0
    pred = torch.zeros(1, 2, 32, 32)
    pred[..., :16] = 50.0  # wrong only where the truth is invalid
    assert flow_epe_terms([pred], _target(flow, valid))["epe2"].item() == 0.0
    pred[..., 20] = 1.0
    assert flow_epe_terms([pred], _target(flow, valid))["epe2"].item() > 0.0


def test_flow_pairs_warp_the_key_onto_the_current_frame_flipped_or_not(tiny_cfg):
    """The sample's flow carries the key (frame t - 1) onto the current frame on valid pixels, also
    after the flip that negates u: a wrong sign would not."""
    cfg = merge(tiny_cfg, {"data": {"short_side": 64}})
    store = load_split(cfg, "train")
    truth = read_ground_truth(store)
    data = FlowPairDataset(store, truth, crop_size=[40, 56], seed=3)
    flips = errors = 0
    for idx in range(12):
        window, target, offset = data[idx]
        assert window.shape == (2, 3, 40, 56) and target.shape == (3, 40, 56) and offset == 1
        warped = flow_warp(window[None, 0], target[None, :2])[0]
        valid = target[2] > 0
        valid[:2], valid[-2:], valid[:, :2], valid[:, -2:] = False, False, False, False
        errors += (warped - window[1]).abs().amax(0)[valid].mean().item()
        rng = random.Random(f"3/0/{idx}")  # the sample's draws: crop y, crop x, then the flip
        rng.randint(0, 0), rng.randint(0, 0)
        flips += rng.random() < 0.5
    assert errors / 12 < 0.05
    assert 1 <= flips <= 11


def test_flow_objective_trains_the_flow_net_alone_and_load_modules_takes_it(tiny_cfg, tmp_path, one_thread):
    cfg = merge(tiny_cfg, {"train": {"objective": "flow", "iters": 3, "val_every": 3, "save_every": 3}})
    out = train(cfg, tmp_path / "flow", device="cpu", progress=False)
    assert out["last_val"]["pairs"] > 0 and out["best_metric"] == -out["last_val"]["epe"]
    ckpt = load_checkpoint(tmp_path / "flow" / "best.pt")
    seed_everything(cfg["train"]["seed"])  # as train() does before building the model
    init = model_from_config(cfg, 3).state_dict()
    changed = {k.split(".")[0] for k, v in ckpt["model"].items() if not torch.equal(v, init[k])}
    assert changed == {"flow_net"}
    # DFF starts from it: only flow_net comes from the checkpoint, the rest keeps its initial values
    torch.manual_seed(1)
    other = model_from_config(tiny_cfg, 3)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    report = init_from(other, tmp_path / "flow" / "best.pt", ["flow_net"])[0]
    after = other.state_dict()
    assert report["missing"] == [] and report["loaded"] == sum(k.startswith("flow_net.") for k in after)
    assert all(torch.equal(after[k], ckpt["model"][k]) for k in after if k.startswith("flow_net."))
    assert all(torch.equal(after[k], before[k]) for k in after if not k.startswith("flow_net."))
    with pytest.raises(ValueError, match="unknown module.*flownet.*valid: backbone"):
        init_from(other, tmp_path / "flow" / "best.pt", ["flownet"])


def test_flow_objective_needs_a_learned_multiscale_flow_net(tiny_cfg):
    net = model_from_config(merge(tiny_cfg, {"model": {"flow": "dis"}}), 3)
    with pytest.raises(ConfigError, match="flownets_lite"):
        TrainForward(net, "flow")


def test_evaluate_flow_orders_truth_dis_and_zero(tiny_cfg):
    store = load_split(tiny_cfg, "val")
    truth = read_ground_truth(store)
    zero, dis = evaluate_flow(ZeroFlow(), store, truth), evaluate_flow(DISFlow(input_scale=1.0), store, truth)
    assert zero["predicted_magnitude"] == 0.0 and zero["epe"] == pytest.approx(zero["true_magnitude"])
    assert dis["epe"] < 0.5 * zero["epe"]
    assert zero["pairs"] == sum(c.end - c.start - 1 for c in store.clips)


def test_soft_kl_is_the_kl_divergence_times_t_squared():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    ref = F.kl_div(F.log_softmax(s / 2, 1), F.log_softmax(t / 2, 1), log_target=True, reduction="sum") * 4
    assert soft_kl(s, t, 2.0).item() == pytest.approx(ref.item(), rel=1e-5)
    assert soft_kl(t, t, 2.0).item() == pytest.approx(0.0, abs=1e-5)


def test_lovasz_softmax_is_one_minus_iou_for_hard_scores_and_its_gradient_raises_iou():
    torch.manual_seed(0)
    label = torch.randint(0, 3, (3, 12, 16))
    label[0, :2] = 255  # ignored pixels
    label[1] = 1  # an image with one class
    pred = torch.randint(0, 3, (3, 12, 16))
    logits = F.one_hot(pred, 3).permute(0, 3, 1, 2).float() * 50  # hard probabilities
    expected = 0.0
    for p, y in zip(pred, label):
        keep = y != 255
        ious = [((p == c) & (y == c) & keep).sum() / (((p == c) | (y == c)) & keep).sum() for c in y[keep].unique()]
        expected += 1 - torch.stack(ious).mean().item()
    assert lovasz_softmax(logits, label, 255).item() == pytest.approx(expected, rel=1e-5)
    assert lovasz_softmax(F.one_hot(label.clamp(max=2), 3).permute(0, 3, 1, 2).float() * 50, label, 255).item() < 1e-6
    assert lovasz_softmax(logits, torch.full_like(label, 255), 255).item() == 0.0  # nothing labelled
    soft = torch.randn(3, 3, 12, 16, requires_grad=True)
    loss = lovasz_softmax(soft, label, 255)
    loss.backward()
    with torch.no_grad():
        assert lovasz_softmax(soft - 2.0 * soft.grad, label, 255) < loss


def test_lovasz_weight_adds_a_term_per_branch_at_its_mean_per_image(tiny_cfg):
    torch.manual_seed(0)
    net = model_from_config(tiny_cfg, 3).eval()
    clip, target = torch.rand(2, 2, 3, 32, 48), torch.randint(0, 3, (2, 32, 48))
    target[0, :4] = 255
    offset = torch.tensor([1, 1])
    plain = TrainForward(net, "per_frame")(clip, target, offset)
    forward = TrainForward(net, "per_frame", lovasz_weight=0.5)
    terms = forward(clip, target, offset)
    assert set(terms) == set(plain) | {f"{n}_lovasz" for n in plain} and len(plain) >= 1
    for n in plain:
        assert terms[n].item() == pytest.approx(plain[n].item(), rel=1e-6)  # the cross-entropy unchanged
        logits = net.branch_logits(n, clip[:, -1])
        mean = lovasz_softmax(logits, target, 255).item() / 2  # over the two images
        assert (terms[f"{n}_lovasz"] / forward.count(target)).item() == pytest.approx(0.5 * mean, rel=1e-5)
    propagated = TrainForward(net, "propagated", lovasz_weight=1.0)(clip, target, offset)
    assert set(propagated) == {"ce", "ce_lovasz"}


def test_distill_fixes_the_teacher_and_trains_flow_without_labels(tiny_cfg, tmp_path, one_thread):
    cfg = merge(tiny_cfg, {"train": {"objective": "distill", "iters": 2, "distill_temperature": 2.0}})
    net = model_from_config(cfg, 3).eval()
    forward = TrainForward(net, "distill", temperature=2.0)
    clip = torch.rand(2, 1, 3, 48, 48).expand(2, 2, 3, 48, 48)  # offset 0: the window is the key twice
    label = torch.full((2, 48, 48), 255)  # no labels at all
    kd = forward(clip, label, torch.tensor([0, 0]))["kd"]
    assert kd.item() == pytest.approx(0.0, abs=1e-4)  # at the key the student is the teacher
    assert forward(torch.rand(2, 2, 3, 48, 48), label, torch.tensor([1, 1]))["kd"].item() > 0
    assert forward.count(label).item() == 2 * 48 * 48
    out = train(cfg, tmp_path / "kd", device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / "kd" / "last.pt")
    seed_everything(cfg["train"]["seed"])
    init = model_from_config(cfg, 3).state_dict()
    changed = {k.split(".")[0] for k, v in ckpt["model"].items() if not torch.equal(v, init[k])}
    assert changed == {"flow_net"}, changed
    assert out["iteration"] == 2
    logged = [json.loads(line) for line in (tmp_path / "kd" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["loss"] >= 0 for r in logged if "loss" in r)
    with pytest.raises(ConfigError, match="distill_temperature"):
        TrainForward(net, "distill", temperature=0.0)


@pytest.mark.parametrize("arch", ["dff", "accel"])
def test_distill_around_a_pretrained_key_network(tiny_cfg, tmp_path, arch, one_thread):
    """distill on a wrapped torchvision segmenter: its key path stays as it is (no train.freeze
    needed), the flow net (and Accel's update branch and fusion) learn."""
    cfg = merge(tiny_cfg, {"model": {"key_network": "torchvision:lraspp_mobilenet_v3_large", "arch": arch,
                                     "update_backbone": "mobilenet_v3_small", "update_output_stride": 32,
                                     "update_channels": 8, "update_kernel": 1},
                           "train": {"objective": "distill", "val_every": 0, "save_every": 1, "keep_last": 2}})
    train(cfg, tmp_path, device="cpu", progress=False)
    one, two = (load_checkpoint(tmp_path / f"ckpt_00000{i}.pt")["model"] for i in (1, 2))
    moved = {k.split(".")[0] for k in one if one[k].is_floating_point() and not torch.equal(one[k], two[k])}
    assert moved == ({"flow_net"} if arch == "dff" else {"flow_net", "update", "fusion"})


def test_distill_on_unlabelled_frame_folders_and_eval_against_the_teacher(tiny_run, synthetic_root, tmp_path,
                                                                          capsys, one_thread):
    """Footage without labels (data.dataset video: frame folders here) adapts a trained model, and
    `dff eval` on it scores agreement with the teacher (it has no labels to score)."""
    import shutil

    from dff.cli import main

    footage = tmp_path / "footage"
    for seq in sorted((synthetic_root / "train").iterdir()):
        shutil.copytree(seq / "frames", footage / seq.name)
    over = ["data.dataset=video", f"data.root={footage}", "data.num_classes=3", "data.split_mode=temporal",
            "train.objective=distill", f"model.load_from={tiny_run / 'best.pt'}"]
    cfg = tmp_path / "distill.yaml"
    cfg.write_text((tiny_run / "config.yaml").read_text())
    assert main(["train", str(cfg), "--work-dir", str(tmp_path / "run"), *over]) == 0
    assert "best val mean agreement" in capsys.readouterr().out
    out = tmp_path / "agree.json"
    assert main(["eval", str(cfg), "--checkpoint", str(tmp_path / "run" / "best.pt"), "--motion-bins", "none",
                 "--json", str(out), *over]) == 0
    res = json.loads(out.read_text())
    assert res["mean_miou"] is None and 0.0 < res["mean_agreement"] <= 1.0
    assert "no labels: scoring agreement" in capsys.readouterr().out


def test_distill_on_footage_takes_the_class_count_from_model_num_classes(tiny_run, synthetic_root, tmp_path,
                                                                           capsys, one_thread):
    """Footage names no classes: model.num_classes in the config is enough (no data.num_classes)."""
    import shutil

    import torch

    from dff.cli import main

    footage = tmp_path / "footage"
    shutil.copytree(sorted((synthetic_root / "train").iterdir())[0] / "frames", footage / "cam")
    cfg = tmp_path / "distill.yaml"
    cfg.write_text((tiny_run / "config.yaml").read_text().replace("num_classes: null", "num_classes: 3"))
    assert "num_classes: 3" in cfg.read_text()
    assert main(["train", str(cfg), "--work-dir", str(tmp_path / "run"), "data.dataset=video", f"data.root={footage}",
                 "data.num_classes=null", "data.split_mode=temporal", "train.objective=distill", "train.iters=2",
                 "train.val_every=0", f"model.load_from={tiny_run / 'best.pt'}", "--device", "cpu"]) == 0, \
        capsys.readouterr().err
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ckpt["class_names"] == ["class0", "class1", "class2"] and ckpt["num_classes"] == 3
