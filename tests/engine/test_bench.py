import pytest

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
    assert "DFF k=5" in format_bench(res)


def test_bench_accel_adds_update_branch_and_fusion_to_non_key_frames(tiny_cfg):
    from dff.config import merge

    cfg = merge(tiny_cfg, {"model": {"arch": "accel", "update_channels": 8}})
    res = bench(cfg, (64, 96), [1, 5], reps=1, device="cpu")
    ms = res["module_seconds"]
    assert {"update", "fusion"} <= set(ms)
    assert res["propagate_seconds"] == pytest.approx(ms["flow"] + ms["warp"] + ms["update"] + ms["fusion"])
    assert "Accel k=5" in format_bench(res) and "update resnet18" in format_bench(res)
