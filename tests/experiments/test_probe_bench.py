import pytest

from dff.engine import bench as bench_mod


def test_probe_bench_times_a_probed_step_in_turns_with_the_stream(tiny_cfg, monkeypatch):
    from experiments import probe_bench as pb

    clips = []
    real = bench_mod.stream_steps
    monkeypatch.setattr(pb, "stream_steps",
                        lambda m, clip, dev, policy=None: clips.append(len(clip)) or real(m, clip, dev, policy))
    res = pb.probe_bench(tiny_cfg, (64, 96), [5, 3], reps=2, device="cpu")
    # warm-up + one per rep: a key frame then 4 propagated ones; a key frame then a probed one
    assert clips == [5, 2, 5, 2, 5, 2]
    tk, tp, tq = res["stream_key_seconds"], res["stream_propagate_seconds"], res["stream_probe_seconds"]
    for row in res["rows"]:
        k = row["key_interval"]
        assert row["stream_speedup"] == pytest.approx(k / (1 + (k - 1) * tp / tk))
        assert row["probe_stream_speedup"] == pytest.approx(k * tk / (tq + (k - 1) * tp))
