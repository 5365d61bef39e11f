import json

import pytest
import torch

from dff.cli import main
from dff.config import merge
from dff.engine.builders import load_split, load_trained
from dff.engine.consistency import FlowWarps
from dff.engine.evaluate import evaluate, evaluate_consistency
from dff.engine.tradeoff import Tradeoff, TradeoffOptions
from dff.engine.tradeoff_report import conclude, mark_front, per_frame_at

CPU = torch.device("cpu")


def opts(**kw) -> TradeoffOptions:
    return TradeoffOptions(**{"sizes": [32, 48], "key_intervals": [2, 3], "flows": ["learned", "dis"],
                              "reps": 1, "device": CPU, **kw})


@pytest.fixture(scope="module")
def measured(tiny_run, one_thread):
    ckpt = torch.load(tiny_run / "best.pt", weights_only=True)
    run = Tradeoff(ckpt["config"], tiny_run / "best.pt", ckpt, opts())
    return run, run.run()


def test_every_setting_is_measured_once_with_its_accuracy_consistency_and_latency(measured):
    run, res = measured
    names = [r["name"] for r in res["rows"]]
    assert names == [f"{s} {what}" for s in (32, 48) for what in
                     ("per-frame", "k=2 learned", "k=3 learned", "k=2 dis", "k=3 dis")]
    assert res["label_size"] == [48, 64] and res["metric"] == "miou"
    for r in res["rows"]:
        assert 0 <= r["accuracy"] <= 1 and len(r["accuracy_by_distance"]) == r["key_interval"]
        assert r["fps"] > 0 and r["latency_max_ms"] >= max(r["latency_key_ms"], r["latency_nonkey_ms"] or 0)
        assert r["vc_8_windows"] == 1 and r["vc_16"] is None and r["tc_pairs"] == 7  # one 8-frame val clip
    # the per-frame accuracy at a size is distance 0 of every flow's evaluation there
    by = {r["name"]: r for r in res["rows"]}
    assert by["32 k=3 dis"]["accuracy_by_distance"][0] == pytest.approx(by["32 per-frame"]["accuracy"])


def test_accuracy_and_consistency_are_those_of_dff_eval_at_the_largest_size(measured, tiny_run):
    """At the largest size frames and labels are the store's own: the row is dff eval's k = 3
    figure and the stream's consistency, computed anew."""
    run, res = measured
    row = next(r for r in res["rows"] if r["name"] == "48 k=3 dis")
    cfg = merge(run.cfg, {"model": {"flow": "dis"}, "data": {"short_side": 48}})
    model = load_trained(cfg, tiny_run / "best.pt", CPU)[0]
    store = load_split(cfg, "val")
    expect = evaluate(model, store, 3, 3, 255, device=CPU)
    assert row["accuracy"] == pytest.approx(expect["mean_miou"], abs=1e-9)
    cons = evaluate_consistency(model, store, 3, 3, 255, CPU, FlowWarps())
    assert (row["vc_8"], row["tc"]) == pytest.approx((cons["vc_8"], cons["tc"]), abs=1e-9)


def test_smaller_sizes_are_scored_against_the_largest_sizes_labels(measured):
    run, res = measured
    assert run.stores[32].labels is run.stores[48].labels
    assert tuple(next(iter(run.stores[32].frames[0].values())).shape[-2:]) == (32, 43)
    assert next(r for r in res["rows"] if r["name"] == "32 per-frame")["size"] == [32, 43]


def test_the_front_and_the_per_frame_curve_interpolated_in_log_frames_per_second():
    rows = [{"name": "a", "fps": 10.0, "accuracy": 0.80, "flow": None},
            {"name": "b", "fps": 40.0, "accuracy": 0.70, "flow": None},
            {"name": "c", "fps": 20.0, "accuracy": 0.78, "flow": "dis"},   # above the curve at 20 (0.75)
            {"name": "d", "fps": 20.0, "accuracy": 0.74, "flow": "dis"},   # below it, dominated by c
            {"name": "e", "fps": 80.0, "accuracy": 0.60, "flow": "dis"}]   # faster than every per-frame size
    mark_front(rows)
    assert [r["on_front"] for r in rows] == [True, True, True, False, True]
    curve = [(10.0, 0.80), (40.0, 0.70)]
    assert per_frame_at(curve, 20.0) == (pytest.approx(0.75), "")
    assert per_frame_at(curve, 80.0)[0] == 0.70 and "fastest" in per_frame_at(curve, 80.0)[1]
    result = {"rows": rows}
    lines = conclude(result)
    assert rows[2]["gain_points"] == pytest.approx(3.0) and rows[3]["gain_points"] == pytest.approx(-1.0)
    assert len(lines) == 3 and lines[0].startswith("c: +3.00 points") and "e: -10.00 points" in lines[1]
    assert lines[-1] == "propagation pays on this data: at best +3.00 points (c)"
    rows[2]["accuracy"] = 0.70  # now dominated by b: the front's only propagated setting (e) is below the curve
    assert conclude(result)[-1] == "propagation does not pay on this data"


def test_the_command_writes_json_csv_markdown_and_plot_and_refuses_to_replace_them(tiny_run, tmp_path, capsys,
                                                                                   one_thread):
    out = tmp_path / "t"
    args = ["tradeoff", "--checkpoint", str(tiny_run / "best.pt"), "--sizes", "32,48", "--key-intervals", "1,3",
            "--flows", "dis", "--reps", "1", "--out", str(out), "--device", "cpu"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| 48 k=3 dis |" in printed and ("- propagation pays" in printed or "- propagation does not pay" in printed)
    res = json.loads((out / "tradeoff.json").read_text())
    assert [r["name"] for r in res["rows"]] == ["32 per-frame", "32 k=3 dis", "48 per-frame", "48 k=3 dis"]
    assert res["verdicts"][-1].startswith("propagation") and res["interrupted"] is False
    assert (out / "tradeoff.csv").read_text().splitlines()[0].startswith("name,short_side,size,key_interval,flow")
    assert "| setting |" in (out / "tradeoff.md").read_text()
    assert (out / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args) == 1
    assert "tradeoff.json: already exists; pass --overwrite" in capsys.readouterr().err
    assert main(args[:-2] + ["--out", str(tiny_run), "--device", "cpu"]) == 1  # holds the checkpoint
    assert "dff never writes onto its inputs" in capsys.readouterr().err


def test_against_the_teacher_scores_agreement_with_per_frame_at_the_largest_size(tiny_run, one_thread):
    ckpt = torch.load(tiny_run / "best.pt", weights_only=True)
    res = Tradeoff(ckpt["config"], tiny_run / "best.pt", ckpt, opts(against="teacher", flows=["dis"],
                                                                    key_intervals=[2])).run()
    by = {r["name"]: r for r in res["rows"]}
    assert res["metric"] == "agreement" and by["48 per-frame"]["accuracy"] == 1.0
    assert by["48 k=2 dis"]["accuracy"] < 1.0 and by["32 per-frame"]["accuracy"] < 1.0


def test_ctrl_c_keeps_the_settings_measured_so_far(tiny_run, tmp_path, monkeypatch, capsys, one_thread):
    real, calls = Tradeoff.measure, []

    def interrupted(self, group):
        calls.append(group)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, group)
    monkeypatch.setattr(Tradeoff, "measure", interrupted)
    out = tmp_path / "t"
    assert main(["tradeoff", "--checkpoint", str(tiny_run / "best.pt"), "--sizes", "32,48", "--key-intervals", "2",
                 "--flows", "dis", "--reps", "1", "--out", str(out), "--device", "cpu"]) == 130
    res = json.loads((out / "tradeoff.json").read_text())
    assert res["interrupted"] is True and [r["name"] for r in res["rows"]] == ["32 per-frame"]
    assert "interrupted; finished outputs kept" in capsys.readouterr().err
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_without_matplotlib_the_table_is_written_and_the_plot_named_missing(measured, tmp_path, monkeypatch):
    import builtins

    from dff.engine.tradeoff_report import write_report
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    res = dict(measured[1])
    conclude(res)
    lines = write_report(res, tmp_path)
    assert lines[-1].startswith("tradeoff.png not drawn: matplotlib is not installed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tradeoff.csv", "tradeoff.json", "tradeoff.md"]


def test_a_model_without_a_learned_flow_skips_learned_with_a_note(tiny_run, one_thread):
    ckpt = torch.load(tiny_run / "best.pt", weights_only=True)
    cfg = merge(ckpt["config"], {"model": {"flow": "dis"}})
    run = Tradeoff(cfg, tiny_run / "best.pt", ckpt, opts(flows=["learned", "zero"], sizes=[48], key_intervals=[2]))
    assert list(run.models) == ["zero"] and "has no learned flow network" in run.result["notes"][0]


def test_unlabelled_footage_is_scored_against_the_key_network_at_the_largest_size(tiny_run, tmp_path, one_thread):
    from layout_fixtures import frame_image
    for n in range(20):
        frame_image(tmp_path / "walk" / f"img_{n:03d}.png", n, size=(48, 64))
    ckpt = torch.load(tiny_run / "best.pt", weights_only=True)
    cfg = merge(ckpt["config"], {"data": {"dataset": "video", "root": str(tmp_path), "split_mode": "temporal"}})
    res = Tradeoff(cfg, tiny_run / "best.pt", ckpt, opts(flows=["dis"], key_intervals=[2])).run()
    assert res["metric"] == "agreement" and "has no labels" in res["notes"][0]
    by = {r["name"]: r for r in res["rows"]}
    assert by["48 per-frame"]["accuracy"] == 1.0 and by["48 k=2 dis"]["tc_pairs"] == 7  # 8 val frames


def test_a_pretrained_key_network_on_unlabelled_footage_needs_no_checkpoint(torchvision_cache, tmp_path, capsys,
                                                                            one_thread):
    from layout_fixtures import frame_image
    for n in range(20):
        frame_image(tmp_path / "footage" / "walk" / f"img_{n:03d}.png", n, size=(48, 64))
    out = tmp_path / "t"
    assert main(["tradeoff", "configs/pretrained/lraspp_mobilenet_v3_large.yaml", "data.dataset=video",
                 f"data.root={tmp_path / 'footage'}", "--sizes", "32,48", "--key-intervals", "2", "--reps", "1",
                 "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "--flows learned: the model has no learned flow network (model.flow dis); skipped" in printed
    res = json.loads((out / "tradeoff.json").read_text())
    assert res["metric"] == "agreement" and [r["name"] for r in res["rows"]] == [
        "32 per-frame", "32 k=2 dis", "48 per-frame", "48 k=2 dis"]
    assert res["rows"][2]["accuracy"] == 1.0
