import json

import pytest
import torch

from dff.cli import main
from dff.engine.demo import run_demo

from conftest import TINY


def test_eval_command_prints_table_and_writes_json(tiny_run, tiny_cfg, tmp_path, capsys):
    cfg = tiny_run / "config.yaml"
    out = tmp_path / "e.json"
    assert main(["eval", str(cfg), "--checkpoint", str(tiny_run / "best.pt"), "--key-interval", "2",
                 "--json", str(out), "--device", "cpu"]) == 0
    res = json.loads(out.read_text())
    assert {"per_frame_miou", "miou_by_distance", "mean_miou", "ratio"} <= set(res)
    assert len(res["miou_by_distance"]) == 2
    assert "DFF d=1" in capsys.readouterr().out


def test_overrides_may_sit_between_options(tiny_run, tmp_path, capsys):
    cfg = tiny_run / "config.yaml"
    out = tmp_path / "b.json"
    assert main(["bench", str(cfg), "model.backbone=resnet34", "--size", "32x32", "--reps", "1",
                 "--key-intervals", "1,3", "--json", str(out), "--device", "cpu"]) == 0
    assert json.loads(out.read_text())["backbone"] == "resnet34"


def test_errors_are_reported_not_raised(tiny_run, tmp_path, capsys):
    cfg = str(tiny_run / "config.yaml")
    assert main(["eval", cfg, "--checkpoint", str(tmp_path / "none.pt")]) == 1
    assert "none.pt: checkpoint not found" in capsys.readouterr().err
    assert main(["eval", cfg, "--checkpoint", "x.pt", "train.bogus=1"]) == 1
    assert "unknown config key 'train.bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", cfg, "--checkpoint", "x.pt", "stray"])
    assert "key=value" in capsys.readouterr().err


def test_demo_end_to_end_and_refuses_to_clobber(tmp_path):
    out = tmp_path / "demo"
    small = {"num_sequences": {"train": 2, "val": 1}, "num_frames": 6, "size": (48, 64)}
    res = run_demo(out, iters=2, data_kwargs=small, progress=False)
    for name in ("config.yaml", "best.pt", "eval.json", "segmentation.mp4"):
        assert (out / name).is_file(), name
    assert torch.load(out / "best.pt", weights_only=True)["iteration"] == 2
    assert res["infer"]["frames_written"] == 6
    assert json.loads((out / "eval.json").read_text())["key_interval"] == 5
    with pytest.raises(FileExistsError, match="--overwrite"):
        run_demo(out, iters=2, data_kwargs=small, progress=False)
    run_demo(out, iters=2, data_kwargs=small, overwrite=True, progress=False)


def test_make_synthetic_command(tmp_path, capsys):
    assert main(["make-synthetic", "--out", str(tmp_path / "s"), "--train", "1", "--val", "1",
                 "--frames", "3", "--height", "32", "--width", "32"]) == 0
    assert (tmp_path / "s" / "synthetic.json").is_file()
    assert len(list((tmp_path / "s" / "train").glob("*/frames/*.png"))) == 3
