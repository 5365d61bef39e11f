import pytest
import torch

from dff.engine.bench import bench, format_bench


def test_bench_reports_modules_and_consistent_throughput(tiny_cfg):
    res = bench(tiny_cfg, (64, 96), [1, 5], reps=1, device="cpu")
    ms = res["module_seconds"]
    assert set(ms) == {"backbone", "feature_conv", "flow", "warp", "head"}
    assert res["key_seconds"] == pytest.approx(ms["backbone"] + ms["feature_conv"] + ms["head"])
    assert res["propagate_seconds"] == pytest.approx(ms["flow"] + ms["warp"] + ms["head"])
    k1, k5 = res["dff"]
    assert k1["speedup"] == pytest.approx(1.0)
    r = res["r_nonkey_over_key"]
    assert k5["speedup"] == pytest.approx(5 / (1 + 4 * r))
    assert res["feature_grid"] == [8, 12]
    assert k1["stream_speedup"] == 1.0 and k5["stream_fps"] > 0
    assert "DFF k=5" in format_bench(res) and "streamed" in format_bench(res)


def test_bench_streams_like_infer_and_times_in_turns(tiny_cfg, monkeypatch):
    from dff.engine import bench as bench_mod

    clips = []
    real = bench_mod.stream_steps
    monkeypatch.setattr(bench_mod, "stream_steps",
                        lambda m, clip, dev, policy=None: clips.append(len(clip)) or real(m, clip, dev, policy))
    res = bench(tiny_cfg, (64, 96), [5, 3], reps=2, device="cpu")
    # warm-up + one per rep: a key frame then 4 propagated ones
    assert clips == [5, 5, 5]
    tk, tp = res["stream_key_seconds"], res["stream_propagate_seconds"]
    for row in res["dff"]:
        k = row["key_interval"]
        assert row["stream_speedup"] == pytest.approx(k / (1 + (k - 1) * tp / tk))
    steps = real(bench_mod.model_from_config(tiny_cfg, 3).eval(), torch.rand(3, 3, 64, 96), torch.device("cpu"))
    assert len(steps) == 3 and all(t > 0 for t in steps)


def test_bench_accel_adds_update_branch_and_fusion_to_non_key_frames(tiny_cfg):
    from dff.config import merge

    cfg = merge(tiny_cfg, {"model": {"arch": "accel", "update_channels": 8}})
    res = bench(cfg, (64, 96), [1, 5], reps=1, device="cpu")
    ms = res["module_seconds"]
    assert {"update", "fusion"} <= set(ms)
    assert res["propagate_seconds"] == pytest.approx(ms["flow"] + ms["warp"] + ms["update"] + ms["fusion"])
    assert "Accel k=5" in format_bench(res) and "update resnet18" in format_bench(res)


def test_bench_times_key_flip_key_frames_on_the_frame_and_its_mirror(tiny_cfg, monkeypatch):
    from dff.config import merge
    from dff.engine import bench as bench_mod

    batches, real = [], bench_mod.model_from_config

    def build(cfg, n):
        model = real(cfg, n)
        model.backbone.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[0]))
        return model

    monkeypatch.setattr(bench_mod, "model_from_config", build)
    bench(merge(tiny_cfg, {"model": {"key_flip": True}}), (64, 96), [1, 5], reps=1, device="cpu")
    assert batches and set(batches) == {2}  # the timed module and every streamed key frame


def test_a_huge_key_interval_allocates_no_frame_per_key_distance(tiny_cfg, monkeypatch):
    sizes, real = [], torch.rand

    def counted(*shape, **kw):
        sizes.append(shape[0] if shape else None)
        return real(*shape, **kw)
    monkeypatch.setattr(torch, "rand", counted)
    res = bench(tiny_cfg, (32, 32), [1, 1_000_000], reps=1, device="cpu")
    assert max(s for s in sizes if s is not None) <= 10
    assert res["dff"][1]["key_interval"] == 1_000_000 and res["dff"][1]["speedup"] > 1
