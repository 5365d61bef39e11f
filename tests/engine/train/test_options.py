"""Training options and guards: gradients everywhere, AMP, accumulation, optimizers, non-finite loss."""
import json

import pytest
import torch

from dff.config import ConfigError, merge
from dff.engine.builders import model_from_config
from dff.engine.checkpoint import load_checkpoint
from dff.engine.train.loop import fix_unused, train
from dff.engine.train.objective import TrainForward, pixel_ce
from dff.engine.train.optim import build_optimizer, build_scheduler, lr_factor
from dff.ops import flow_warp

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = {"train": {"iters": 2, "val_every": 0, "save_every": 2}}


def weights(run):
    return load_checkpoint(run / "last.pt")["model"]


def assert_close(a, b, atol=1e-5):
    for k, v in a.items():
        if v.is_floating_point():
            assert torch.allclose(v, b[k], atol=atol, rtol=0), (k, (v - b[k]).abs().max())


@pytest.mark.parametrize("model, objective, fixed", [
    ({}, "propagated", set()),
    ({"arch": "accel", "update_channels": 8}, "propagated", set()),
    ({"arch": "accel", "update_channels": 8, "fusion": "feature"}, "propagated", {"update.head"}),
    ({"arch": "accel", "update_channels": 8}, "per_frame", {"flow_net", "fusion"}),
    ({"propagation": "chained"}, "propagated", set()),
])
def test_every_trainable_parameter_gets_a_gradient_at_key_offset_zero(tiny_cfg, model, objective, fixed):
    cfg = merge(tiny_cfg, {"model": model})
    net = model_from_config(cfg, 3)
    forward = TrainForward(net, objective)
    window = 3 if cfg["model"]["propagation"] == "chained" else 2
    fix_unused(forward, [48, 48], window, main=False)
    unused = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert unused == {n for n, _ in net.named_parameters() if any(n.startswith(f + ".") for f in fixed)}
    clip = torch.rand(2, window, 3, 48, 48)
    label = torch.zeros(2, 48, 48, dtype=torch.long)
    outs = forward(clip, label, torch.zeros(2, dtype=torch.long))  # every sample is its own key
    sum(o.sum() for o in outs.values()).backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_a_batch_without_labelled_pixels_gives_zero_loss_not_nan(tiny_cfg):
    net = model_from_config(tiny_cfg, 3).train()
    forward = TrainForward(net, "propagated")
    clip, offset, label = torch.rand(2, 2, 3, 48, 48), torch.tensor([0, 1]), torch.full((2, 48, 48), 255)
    loss = forward(clip, label, offset)["ce"] / forward.count(label).clamp(min=1)  # as train_step divides
    loss.backward()
    assert loss.item() == 0.0
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    logits = net(clip, offset)
    assert pixel_ce(logits, label, 255).item() == 0.0
    assert torch.isnan(torch.nn.functional.cross_entropy(logits, label, ignore_index=255))  # mean would


def test_non_finite_loss_stops_the_run_naming_iteration_and_terms(tiny_cfg, tmp_path):
    cfg = merge(tiny_cfg, {"train": {"iters": 6, "val_every": 0, "save_every": 1, "optimizer": "sgd",
                                     "lr": 1.0e12, "momentum": 0.0}})
    with pytest.raises(FloatingPointError, match=r"iteration (\d+): non-finite loss \{'ce': ") as err:
        train(cfg, tmp_path, device="cpu", progress=False)
    bad = int(str(err.value).split()[1].rstrip(":"))
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["iteration"] == bad - 1  # nothing saved from the failing step
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_seeded_runs_are_bitwise_equal_with_or_without_workers(tiny_cfg, tmp_path):
    cfg = merge(tiny_cfg, merge(QUICK, {"data": {"scale_range": [0.8, 1.2]}}))
    train(cfg, tmp_path / "a", device="cpu", progress=False)
    train(merge(cfg, {"train": {"workers": 2}}), tmp_path / "b", device="cpu", progress=False)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    train(merge(cfg, {"train": {"seed": 1}}), tmp_path / "c", device="cpu", progress=False)
    assert not torch.equal(a["head.cls.weight"], weights(tmp_path / "c")["head.cls.weight"])


def test_accumulation_equals_the_bigger_batch(tiny_cfg, tmp_path):
    """2 micro-batches of 2 = one batch of 4 (BatchNorm statistics fixed, dropout off: head fixed)."""
    cfg = merge(tiny_cfg, merge(QUICK, {"train": {"freeze_bn": True, "freeze": ["head"], "batch_size": 4}}))
    train(cfg, tmp_path / "big", device="cpu", progress=False)
    train(merge(cfg, {"train": {"batch_size": 2, "accumulate": 2}}), tmp_path / "acc", device="cpu",
          progress=False)
    assert_close(weights(tmp_path / "big"), weights(tmp_path / "acc"))
    assert not torch.equal(weights(tmp_path / "big")["backbone.stem.0.weight"],
                           model_from_config(cfg, 3).state_dict()["backbone.stem.0.weight"])


def test_channels_last_and_clip_grad_train_the_same_model(tiny_cfg, tmp_path):
    # SGD: Adam's normalised steps would turn rounding-level gradient differences into lr-sized ones
    cfg = merge(tiny_cfg, merge(QUICK, {"train": {"freeze": ["head"], "clip_grad": 1.0e6, "optimizer": "sgd"}}))
    train(cfg, tmp_path / "a", device="cpu", progress=False)
    train(merge(cfg, {"train": {"channels_last": True}}), tmp_path / "b", device="cpu", progress=False)
    assert_close(weights(tmp_path / "a"), weights(tmp_path / "b"))
    log = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert log[0]["terms"]["grad_norm"] > 0


def test_compiled_training_forward_trains_the_same_model(tiny_cfg, tmp_path):
    # aot_eager traces forward and backward through dynamo and AOTAutograd without inductor's
    # C++ code generation (minutes on these cores); `compile: true` takes the same path.
    cfg = merge(tiny_cfg, merge(QUICK, {"train": {"freeze": ["head"], "optimizer": "sgd"}}))
    train(cfg, tmp_path / "a", device="cpu", progress=False)
    train(merge(cfg, {"train": {"compile": "aot_eager"}}), tmp_path / "b", device="cpu", progress=False)
    assert_close(weights(tmp_path / "a"), weights(tmp_path / "b"))


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_with_the_warp_in_fp32(tiny_cfg, tmp_path, amp):
    cfg = merge(tiny_cfg, {"train": {"amp": amp, "iters": 1, "val_every": 0}})  # fp16 convs crawl on CPU
    train(cfg, tmp_path, device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ("scale" in ckpt["scaler"]) == (amp == "fp16")
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    x, flow = torch.rand(1, 4, 300, 300), torch.rand(1, 2, 300, 300) * 4
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = flow_warp(x.bfloat16(), flow.bfloat16())
    assert out.dtype == torch.float32
    assert torch.equal(out, flow_warp(x.bfloat16().float(), flow.bfloat16().float()))


def test_optimizers_schedules_and_lr_multipliers(tiny_cfg):
    tc = merge(tiny_cfg, {"train": {"optimizer": "sgd", "scheduler": "cosine", "warmup_iters": 0,
                                    "lr_mult": {"flow_net": 0.1, "flow_net.scale": 2}}})["train"]
    net = model_from_config(tiny_cfg, 3)
    opt = build_optimizer(net, tc)
    lrs = {g["lr_mult"]: (g["lr"], len(g["params"])) for g in opt.param_groups}
    assert isinstance(opt, torch.optim.SGD) and set(lrs) == {1.0, 0.1, 2.0}
    assert lrs[2.0] == (2 * tc["lr"], 2) and lrs[0.1][0] == pytest.approx(0.1 * tc["lr"])
    sched = build_scheduler(opt, tc)
    for _ in range(tc["iters"] // 2):
        opt.step()  # no gradients: a no-op that keeps the scheduler's order check quiet
        sched.step()
    assert opt.param_groups[1]["lr"] == pytest.approx(0.05 * tc["lr"])  # cosine half-way, x0.1
    assert lr_factor(5, 10, 0, "step", steps=(3, 8)) == pytest.approx(0.1)
    assert lr_factor(10, 10, 0, "poly") == 0.0 and lr_factor(4, 10, 2, "constant") == 1.0
    with pytest.raises(ConfigError, match="unknown module.*trunk; valid: backbone, feature_conv, flow_net"):
        build_optimizer(net, {**tc, "lr_mult": {"trunk": 2}})
    for key, value, valid in [("optimizer", "adam", "`adamw`, `sgd`"), ("scheduler", "linear", "`poly`, `cosine`"),
                              ("amp", "fp8", "`off`, `bf16`, `fp16`")]:
        with pytest.raises(ConfigError, match=f"train.{key}='{value}': must be one of {valid}"):
            train(merge(tiny_cfg, {"train": {key: value}}), "/nonexistent/never", device="cpu")


def test_lr_mult_is_a_free_form_mapping_in_configs():
    from dff.config import load_config

    assert load_config(None, ["train.lr_mult={flow_net: 0.1, update.head: 2}"])["train"]["lr_mult"] == {
        "flow_net": 0.1, "update.head": 2}
    with pytest.raises(ConfigError, match="'train.lr_mult' must be a mapping"):
        load_config(None, ["train.lr_mult=0.1"])


def test_sync_bn_is_refused_on_cpu(tiny_cfg, tmp_path):
    with pytest.raises(ConfigError, match="train.sync_bn needs CUDA"):
        train(merge(tiny_cfg, {"train": {"sync_bn": True}}), tmp_path, device="cpu", progress=False)


def test_tensorboard_scalars_beside_metrics_jsonl(tiny_cfg, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(merge(tiny_cfg, {"train": {"val_every": 2, "iters": 2}}), tmp_path, device="cpu", progress=False)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"loss", "lr", "val/mean_miou"} <= set(tags)
    assert [e.step for e in events.Scalars("loss")] == [1, 2]


@pytest.mark.parametrize("arch", ["dff", "accel"])
def test_a_pretrained_key_network_fine_tunes_its_flow_and_fusion(tiny_cfg, tmp_path, arch):
    """train.freeze of the key network trains the flow net and scale field (and Accel's update branch
    and fusion) around a wrapped torchvision segmenter."""
    frozen = ["backbone", "feature_conv", "head"]
    cfg = merge(tiny_cfg, {"model": {"key_network": "torchvision:lraspp_mobilenet_v3_large", "arch": arch,
                                     "update_backbone": "mobilenet_v3_small", "update_output_stride": 32,
                                     "update_channels": 8, "update_kernel": 1},
                           "train": {"freeze": frozen, "val_every": 0, "save_every": 1, "keep_last": 2}})
    train(cfg, tmp_path, device="cpu", progress=False)
    one, two = (load_checkpoint(tmp_path / f"ckpt_00000{i}.pt")["model"] for i in (1, 2))
    moved = {k.split(".")[0] for k in one if one[k].is_floating_point() and not torch.equal(one[k], two[k])}
    assert moved == ({"flow_net"} if arch == "dff" else {"flow_net", "update", "fusion"})
    assert "backbone.backbone.0.0.weight" in one  # the torchvision model's own modules, under the key path
