import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_flow_vs_truth_reports_errors_against_the_ground_truth(tiny_run):
    out = subprocess.run([sys.executable, "-m", "experiments.flow_vs_truth", str(tiny_run / "config.yaml"),
                          str(tiny_run / "best.pt"), "--pairs", "3:2,5:2"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    lines = [l for l in out.splitlines() if l.startswith("current")]
    assert len(lines) == 2 and "current 5 key 2" in lines[1]
    assert "learned EPE" in lines[0] and "dis EPE" in lines[0] and "truth" in lines[0]


def test_key_placement_dynamic_programme_matches_brute_force():
    import itertools

    import torch

    import experiments.key_placement_bound as kp
    g = torch.Generator().manual_seed(0)
    length, max_gap = 7, 3
    # Error grows with distance, plus noise, so the best placement is not simply even spacing.
    cms = {(s, t): torch.tensor([[50, int((t - s) * torch.randint(1, 9, (1,), generator=g))], [0, 30]])
           for s in range(length) for t in range(s, min(s + max_gap, length))}
    clip = {"length": length, "cms": cms}
    best = kp.best_per_count(clip, max_gap)
    for m in range(1, length + 1):
        feasible = []
        for rest in itertools.combinations(range(1, length), m - 1):
            keys = [0, *rest]
            if all(b - a <= max_gap for a, b in zip(keys, keys[1:] + [length])):
                feasible.append((kp.wrong(sum(kp.segment(clip, a, b) for a, b in zip(keys, keys[1:] + [length]))), keys))
        if feasible:
            assert best[m][0] == min(feasible)[0]
        else:
            assert m not in best
    assert kp.allocate([best, best], 5) is None  # each clip needs 3 keys for gaps <= 3
    two = kp.allocate([best, best], 7)
    assert sum(map(len, two)) == 7
    assert kp.wrong(sum(kp.segment(clip, a, b) for keys in two for a, b in zip(keys, keys[1:] + [length]))) == \
        min(best[m][0] + best[7 - m][0] for m in best if 7 - m in best)


def test_key_placement_bound_fixed_row_equals_the_streamed_fixed_policy(tiny_run, tmp_path):
    from dff.config import load_config
    from dff.engine.builders import load_split, load_trained
    from dff.engine.evaluate import evaluate_stream
    from dff.inference.policies import build_policy

    out = tmp_path / "bound.json"
    subprocess.run([sys.executable, "-m", "experiments.key_placement_bound", str(tiny_run / "config.yaml"),
                    str(tiny_run / "best.pt"), "--key-interval", "3", "--max-gap", "5", "--json", str(out)],
                   capture_output=True, text=True, check=True, cwd=ROOT)
    rows = json.loads(out.read_text())["rows"]
    cfg = load_config(tiny_run / "config.yaml")
    model, ckpt = load_trained(cfg, tiny_run / "best.pt", "cpu")
    stream = evaluate_stream(model, load_split(cfg, "val"), build_policy("fixed", 3), int(ckpt["num_classes"]))
    assert rows[0]["placement"] == "fixed" and rows[0]["keys"] == stream["key_frames"]
    assert abs(rows[0]["miou"] - stream["miou"]) < 1e-6
    timing = next(r for r in rows if r["placement"] == "best timing per clip")
    best = next(r for r in rows if r["placement"] == "best in hindsight" and r["keys"] == rows[0]["keys"])
    # Each relaxation can only lower the wrong pixels: fixed >= timing alone >= free placement.
    assert rows[0]["wrong_pixels"] >= timing["wrong_pixels"] >= best["wrong_pixels"]
    assert sum(timing["keys_per_clip"]) == sum(best["keys_per_clip"]) == rows[0]["keys"]
    assert best["longest_gap"] <= 5
    odd = {r["placement"]: r for r in rows if "odd" in r["placement"]}
    assert set(odd) == {"fixed, odd frames", "best on even, odd frames"}
    assert odd["fixed, odd frames"]["wrong_pixels"] < rows[0]["wrong_pixels"]  # half the frames


def test_key_signal_replay_equals_the_streamed_adaptive_policy(tiny_run, tmp_path):
    """Replaying a policy on the saved pair tables gives the streamed run's keys and mIoU."""
    from dff.config import load_config
    from dff.data.frames import to_float
    from dff.engine.builders import load_split, load_trained
    from dff.engine.evaluate import evaluate_stream
    from dff.inference.policies import FixedPolicy, build_policy
    from dff.inference.stream import StreamRunner
    from experiments.policies import AdaptivePolicy

    tables = tmp_path / "tables.pt"
    subprocess.run([sys.executable, "-m", "experiments.key_placement_bound", str(tiny_run / "config.yaml"),
                    str(tiny_run / "best.pt"), "--key-interval", "3", "--max-gap", "8", "--tables", str(tables)],
                   capture_output=True, text=True, check=True, cwd=ROOT)
    import experiments.key_signal_study as ks
    cfg = load_config(tiny_run / "config.yaml")
    clips, max_gap = ks.load_clips(cfg, str(tables))
    assert max_gap == 8 and [c["length"] for c in clips] == [8]
    model, ckpt = load_trained(cfg, tiny_run / "best.pt", "cpu")
    store, n = load_split(cfg, "val"), int(ckpt["num_classes"])

    def streamed(policy) -> list[int]:
        runner = StreamRunner(model, policy)
        return [i for i in range(8) if runner.step(to_float(store.frames[0][i])[None])[1]]

    total, placed = ks.replay(clips, FixedPolicy(3), None)
    stream = evaluate_stream(model, store, build_policy("fixed", 3), n)
    assert placed == [[0, 3, 6]] and abs(ks.miou(total) - stream["miou"]) < 1e-6
    seen = set()
    for name in ("uncertainty", "difference"):
        values = sorted({ks.SIGNALS[name](clips[0], s, t) for t in range(1, 8) for s in range(t)})
        for thr in values[::3]:
            total, placed = ks.replay(clips, AdaptivePolicy(3, thr), ks.SIGNALS[name])
            assert placed == [streamed(AdaptivePolicy(3, thr, signal=name))], (name, thr)
            stream = evaluate_stream(model, store, AdaptivePolicy(3, thr, signal=name), n)
            assert abs(ks.miou(total) - stream["miou"]) < 1e-6, (name, thr)
            seen.add((name, tuple(placed[0])))
    assert len({p for name, p in seen if name == "uncertainty"}) >= 2  # the thresholds move the keys
    assert len({p for name, p in seen if name == "difference"}) >= 2
    total, keys, _ = ks.matched(clips, 3, ks.SIGNALS["difference"], max_gap)
    assert total is None or keys == 3


def test_learned_key_signal_fits_a_gain_that_is_linear_in_the_distance():
    """fit_gain recovers a gain that grows linearly with the distance to the key."""
    import numpy as np
    import torch

    import experiments.key_signal_study as ks
    g = torch.Generator().manual_seed(0)
    clips = []
    for _ in range(2):  # 10 wrong pixels of 100 per frame of distance to the key
        cms = {(s, t): torch.tensor([[100 - 10 * (t - s), 10 * (t - s)], [0, 0]]).double()
               for s in range(9) for t in range(s, min(s + 6, 9))}
        frames = [torch.randint(0, 256, (3, 8, 8), generator=g, dtype=torch.uint8) for _ in range(9)]
        clips.append({"length": 9, "cms": cms, "frames": frames, "sharp": [ks.sharpness(f) for f in frames],
                      "unc": {st: float(torch.rand(1, generator=g)) for st in cms}})
    assert ks.gain(clips[0], 1, 4, 2) == 30.0  # 3 frames closer to the key, 10% each
    signal = ks.fit_gain(clips, 2, 6, lam=1e-6)
    errors = [abs(signal(c, s, t) - 10 * (t - s)) for c in clips for t in range(1, 9) for s in range(max(0, t - 4), t)]
    assert np.max(errors) < 1e-3
    probe = ks.fit_gain(clips, 3, 6, ks.probe_features, every=3, lam=1e-6)
    assert abs(probe(clips[1], 1, 6) - 50) < 1e-3


def test_select_replay_holds_a_probed_key_only_when_accepted():
    import torch

    import experiments.key_signal_study as ks
    # Frame 3 segments badly as a key (60 wrong of 100), every other key well (10 per frame of distance).
    cms = {(s, t): torch.tensor([[100 - e, e], [0, 0]]).double()
           for s in range(9) for t in range(s, min(s + 7, 9)) for e in [60 if s == 3 else 10 * (t - s)]}
    clip = {"length": 9, "cms": cms}
    fixed_total, fixed_keys = ks.replay([clip], ks.FixedPolicy(3), None)
    total, keys = ks.replay_select([clip], 3, lambda c, s, t: True, 7)
    assert keys == fixed_keys == [[0, 3, 6]] and torch.equal(total, fixed_total)
    assert ks.replay_select([clip], 3, lambda c, s, t: False, 7)[1] == [[0, 6]]  # forced: 6 + 3 - 0 > 7
    total, keys = ks.replay_select([clip], 3, lambda c, s, t: ks.gain(c, s, t, 3) > 0, 7)
    assert keys == [[0, 6]] and ks.wrong(total) < ks.wrong(fixed_total)  # the bad key at 3 is refused


def test_signal_study_noise_floor_phases_and_bootstrap():
    """fixed_phases' last phase is FixedPolicy's schedule; the bootstrap counts wins per resample."""
    import torch

    import experiments.key_signal_study as ks
    # Frame 3 segments badly as a key (60 wrong of 100), every other key well (10 per frame of distance).
    cms = {(s, t): torch.tensor([[100 - e, e], [0, 0]]).double()
           for s in range(9) for t in range(s, min(s + 7, 9)) for e in [60 if s == 3 else 10 * (t - s)]}
    clip = {"length": 9, "cms": cms}
    phases = ks.fixed_phases([clip], 3)
    total, placed = ks.replay([clip], ks.FixedPolicy(3), None)
    assert phases[-1] == (3, ks.miou(total)) and [n for n, _ in phases] == [4, 4, 3]
    assert phases[1][1] > phases[2][1]  # keys 0, 2, 5, 8 avoid the bad key at 3
    good, bad = torch.tensor([[90.0, 10], [5, 95]]), torch.tensor([[80.0, 20], [10, 90]])
    assert ks.bootstrap([good] * 5, [bad] * 5, reps=50)[0] == 1.0
    p, lo, hi = ks.bootstrap([good] * 5, [good] * 5, reps=50)
    assert p == 0.0 and lo == hi == 0.0
    p, lo, hi = ks.bootstrap([good, bad, good, bad], [bad, good, bad, good], reps=400)
    assert 0.1 < p < 0.9 and lo < 0 < hi  # one policy wins some clips, loses others


def test_probe_policy_script_streams_probe_against_fixed(tiny_run, tmp_path):
    """An infinite margin adopts every probe (fixed, exactly); minus infinity refuses all it may."""
    out = tmp_path / "probe.json"
    subprocess.run([sys.executable, "-m", "experiments.probe_policy", str(tiny_run / "config.yaml"),
                    str(tiny_run / "best.pt"), "--key-intervals", "3", "--margins", "inf,-inf", "--json", str(out)],
                   capture_output=True, text=True, check=True, cwd=ROOT)
    always, never = json.loads(out.read_text())
    assert always["probe"] == always["fixed"] and always["keys"] == always["key_runs"] == always["fixed_keys"] == 3
    assert always["p_beats_fixed"] == 0.0 and always["points_5_95"] == [0.0, 0.0]
    # one 8-frame val clip: probes at 3 and 6 both refused (6 + 3 is within 3 x 3), one key
    assert never["key_runs"] == 3 and never["keys"] == 1


def test_probe_margin_cross_validation_takes_each_half_from_the_other_halfs_best():
    import torch

    import experiments.probe_policy as pp
    good, bad = torch.tensor([[90, 10], [5, 95]]), torch.tensor([[60, 40], [30, 70]])
    # margin 1 is best on the even clips, margin 2 on the odd ones
    runs = {1.0: [good, bad, good, bad], 2.0: [bad, good, bad, good]}
    per_clip, chosen = pp.cross_validated(runs)
    assert chosen == [2.0, 1.0] and all(torch.equal(c, bad) for c in per_clip)  # each half gets the wrong one
    runs = {1.0: [good, good, good], 2.0: [bad, bad, bad]}
    assert pp.cross_validated(runs) == ([good, good, good], [1.0, 1.0])


def test_adaptive_sweep_adds_its_run_to_an_eval_file_for_the_results_table(tiny_run, tmp_path):
    """--add-to-eval writes a new `dff eval --json` file with stream_adaptive; results_table reads it."""
    from dff.cli import main

    ev, out = tmp_path / "eval.json", tmp_path / "eval_adaptive.json"
    assert main(["eval", str(tiny_run / "config.yaml"), "--checkpoint", str(tiny_run / "best.pt"),
                 "--key-interval", "3", "--json", str(ev)]) == 0
    run = [sys.executable, "-m", "experiments.adaptive_sweep", str(tiny_run / "config.yaml"), str(tiny_run / "best.pt"),
           "--key-interval", "3", "--signal", "difference", "--thresholds", "1e9", "--add-to-eval", str(ev), str(out)]
    subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT)
    added = json.loads(out.read_text())
    assert added["stream_adaptive"]["key_frames"] >= 1 and added["mean_miou"] == json.loads(ev.read_text())["mean_miou"]
    assert subprocess.run(run, capture_output=True, text=True, cwd=ROOT).returncode != 0  # never over a file
