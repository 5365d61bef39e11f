import json
from pathlib import Path

import pytest
import torch

from dff.cli import main
from dff.io.video_writer import X264_PRESETS
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


def test_eval_reports_the_temporal_consistency_of_the_val_clips_as_videos(tiny_run, tmp_path, capsys):
    base = ["eval", "--checkpoint", str(tiny_run / "best.pt"), "--key-interval", "3", "--device", "cpu",
            "--motion-bins", "none"]
    assert main(base + ["--json", str(tmp_path / "e.json")]) == 0
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["consistency_key_interval"] == 3 and res["vc_8_windows"] == 1 and res["vc_16"] is None
    assert 0 <= res["vc_8"] <= 1 and 0 <= res["tc"] <= 1 and res["tc_pairs"] == 7  # one 8-frame val clip
    printed = capsys.readouterr().out
    assert "VC_8 k=3" in printed and "TC k=3" in printed and "VC_16" not in printed
    assert main(base + ["--no-consistency", "--json", str(tmp_path / "n.json")]) == 0
    assert not {"vc_8", "tc"} & set(json.loads((tmp_path / "n.json").read_text()))


def test_eval_runs_a_depthwise_key_network_channels_last_with_the_channels_first_figures(synthetic_root, tmp_path,
                                                                                          monkeypatch):
    from dff.config import load_config
    from dff.engine.builders import load_split, load_trained
    from dff.engine.evaluate import evaluate
    from dff.engine.train import train
    from dff.models import layout
    cfg = load_config(None, TINY + [f"data.root={synthetic_root}", "model.backbone=efficientnet_lite0",
                                    "train.iters=1", "train.val_every=0", "train.save_every=1"])
    train(cfg, tmp_path / "run", device="cpu", progress=False)
    ckpt, out = tmp_path / "run" / "last.pt", tmp_path / "e.json"
    converted, real = [], layout.key_channels_last
    monkeypatch.setattr(layout, "key_channels_last", lambda model: converted.append(real(model)) or converted[-1])
    assert main(["eval", "--checkpoint", str(ckpt), "--json", str(out), "--device", "cpu"]) == 0
    assert converted == [True]
    model, _ = load_trained(cfg, ckpt, torch.device("cpu"))  # channels-first, as it was built
    expect = evaluate(model, load_split(cfg, "val"), 3, 3, cfg["data"]["ignore_index"], device=torch.device("cpu"))
    res = json.loads(out.read_text())
    assert res["mean_miou"] == pytest.approx(expect["mean_miou"], abs=1e-6)
    assert res["miou_by_distance"] == pytest.approx(expect["miou_by_distance"], abs=1e-6)


def test_eval_command_against_the_teacher_and_by_motion(tiny_run, tmp_path, capsys):
    base = ["eval", str(tiny_run / "config.yaml"), "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu"]
    out = tmp_path / "t.json"
    assert main(base + ["--against", "teacher", "--motion-bins", "2,8", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["motion_bins"] == [2.0, 8.0] and len(res["miou_by_motion"]) == 3
    assert res["agreement_by_distance"][0] == 1.0 and "mean_agreement" in res and "agreement" in res["miou_by_motion"][0]
    printed = capsys.readouterr().out
    assert "agree d=1" in printed and "motion 2-8 px" in printed and "DFF d=1" in printed
    assert main(base + ["--motion-bins", "none", "--json", str(out), "--overwrite"]) == 0
    assert not {"motion_bins", "miou_by_motion", "agreement_by_distance"} & set(json.loads(out.read_text()))
    assert main(base + ["--motion-bins", "8,2"]) == 1
    assert "motion bins must be increasing" in capsys.readouterr().err


def test_eval_of_a_flow_config_reports_end_point_error(synthetic_root, tmp_path, capsys):
    """A train.objective flow config evaluates its flow network against the ground truth; the
    non-learned flows need no checkpoint, and zero flow's EPE is the true motion."""
    cfg = tmp_path / "flow.yaml"
    cfg.write_text(f"data: {{dataset: synthetic, root: {synthetic_root}, split_mode: sequences, short_side: 48}}\n"
                   "train: {objective: flow}\n")
    out = tmp_path / "epe.json"
    assert main(["eval", str(cfg), "model.flow=zero", "--json", str(out)]) == 0
    zero = json.loads(out.read_text())
    assert zero["epe"] == pytest.approx(zero["true_magnitude"]) and zero["predicted_magnitude"] == 0.0
    assert main(["eval", str(cfg), "model.flow=dis", "model.flow_scale=1.0", "--json", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["epe"] < zero["epe"]
    assert "EPE" in capsys.readouterr().out
    assert main(["eval", str(cfg)]) == 1  # a learned flow net needs its checkpoint


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
    assert main(["make-synthetic", "--out", str(tmp_path / "b"), "--train", "1", "--val", "0",
                 "--frames", "3", "--height", "32", "--width", "32", "--motion", "bursty"]) == 0
    assert json.loads((tmp_path / "b" / "synthetic.json").read_text())["motion"] == "bursty"
    assert main(["make-synthetic", "--out", str(tmp_path / "c"), "--train", "1", "--val", "0",
                 "--frames", "2", "--height", "48", "--width", "64", "--motion", "chairs"]) == 0
    assert json.loads((tmp_path / "c" / "synthetic.json").read_text())["motion"] == "chairs"


def test_check_data_counts_and_values(tmp_path, capsys):
    from layout_fixtures import make_camvid

    root = make_camvid(tmp_path / "camvid")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  dataset: camvid\n  root: {root}\n  split_mode: sequences\n")
    assert main(["check-data", str(cfg), "model.key_interval=3"]) == 0
    out = capsys.readouterr().out
    assert "train: 6 frames, 2 labels; label values [0, 3, 10, 11] (4 distinct)" in out
    assert "val: 3 frames, 1 labels" in out and "no problems found" in out


def test_check_data_lists_every_problem(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from layout_fixtures import label_image, make_camvid

    root = make_camvid(tmp_path / "camvid")
    label_image(root / "trainannot" / "0001TP_006690.png", [0, 300], dtype=np.uint16)  # 16-bit, too big
    label_image(root / "trainannot" / "Seq05VD_f00030.png", [0, 12], size=(5, 12))  # bad id and size
    Image.new("RGB", (12, 8)).save(root / "valannot" / "Seq05VD_f00003.png")
    assert main(["check-data", str(tmp_path / "none.yaml")]) == 1
    capsys.readouterr()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  dataset: camvid\n  root: {root}\n  split_mode: sequences\n")
    assert main(["check-data", str(cfg)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 4 and "4 problem(s)" in out
    assert "0001TP_006690.png: 16-bit label values [300] not allowed" in problems[0]
    assert "Seq05VD_f00030.png: label size (5, 12) differs from frame size (8, 12)" in problems[1]
    assert "Seq05VD_f00030.png: label values [12] not allowed" in problems[2]
    assert "Seq05VD_f00003.png: label image has mode RGB" in problems[3]
    assert "train: 10 frames, 2 labels; label values [0, 12, 300]" in out
    assert main(["check-data", str(cfg), "data.dataset=kitti"]) == 1
    assert "must be one of `davis`, `synthetic`, `cityscapes`, `camvid`, `folder`" in capsys.readouterr().err


def test_infer_command_modes_and_refusals(tiny_run, synthetic_root, tmp_path, capsys):
    from dff.data.video import VideoReader

    base = ["infer", str(tiny_run / "config.yaml"), "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu",
            "--input", str(sorted((synthetic_root / "val").iterdir())[0] / "frames")]
    out = tmp_path / "c.mp4"
    assert main(base + ["--output", str(out), "--mode", "colour", "--codec", "mp4v"]) == 0
    assert "8 frames (8 decoded)" in capsys.readouterr().out
    assert len(list(VideoReader(out))) == 8
    labels = tmp_path / "labels"
    assert main(base + ["--output", str(labels), "--mode", "labels", "--palette", "cityscapes"]) == 0
    assert "(labels, cityscapes palette)" in capsys.readouterr().out
    assert main(base + ["--output", str(labels), "--mode", "labels"]) == 1
    assert "labels: already holds 8 entries" in capsys.readouterr().err
    assert main(base + ["--output", str(labels), "--mode", "labels", "--overwrite", "--alpha", "0.3"]) == 0
    assert main(base + ["--output", str(tmp_path / "p.mp4"), "--codec", "mp4v", "--preset", "veryfast"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"dff infer: error: {tmp_path / 'p.mp4'}: preset 'veryfast' is not an x264 preset for codec h264 (codec mp4v); "
        "valid: " + ", ".join(X264_PRESETS))
    assert not (tmp_path / "p.mp4").exists()


@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_sigterm_and_ctrl_c_stop_with_one_line_and_no_temp_files(tiny_cfg, tiny_run, tmp_path, sig, code):
    """SIGTERM left hidden temp files and Ctrl-C printed a traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "dff", "train", str(tiny_run / "config.yaml"), "--work-dir", str(run),
           "--device", "cpu", "train.iters=100000", "train.val_every=0", "train.save_every=1", "train.keep_last=2"]
    # a suite started in the background by a non-interactive shell ignores SIGINT, and a child
    # would inherit that: Ctrl-C's default for it, as in a terminal
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (run / "ckpt_000003.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("dff train: ")
    assert not [p.name for p in run.iterdir() if "tmp" in p.name]
    torch.load(run / "last.pt", weights_only=True)  # what was finished is whole


def test_val_clips_shorter_than_the_key_interval_are_an_error_at_start(tiny_run, capsys):
    """Val clips shorter than the key interval gave a NaN mean mIoU."""
    cfg, ckpt = str(tiny_run / "config.yaml"), str(tiny_run / "best.pt")
    assert main(["eval", cfg, "--checkpoint", ckpt, "--key-interval", "9", "--motion-bins", "none"]) == 1
    assert "longest clip has 8 frames, fewer than the key interval 9" in capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    (["eval", "c.yaml", "--key-interval", "0"], "--key-interval: 0 must be >= 1"),
    (["eval", "c.yaml", "--key-interval", "-1"], "--key-interval: -1 must be >= 1"),
    (["infer", "c.yaml", "--input", "a", "--output", "b", "--alpha", "5"], "--alpha: 5 must be in [0, 1]"),
    (["infer", "c.yaml", "--input", "a", "--output", "b", "--alpha", "nan"], "--alpha: nan must be in [0, 1]"),
    (["bench", "c.yaml", "--size", "0x0"], "--size: 0x0: height and width must be >= 16"),
    (["bench", "c.yaml", "--key-intervals", "0"], "--key-intervals: 0 must be >= 1"),
    (["make-synthetic", "--out", "x", "--train", "-1"], "--train: -1 must be >= 1"),
])
def test_bad_command_line_values_are_refused_by_the_parser(args, words, capsys):
    """Bad values on the command line: each refused with its option named."""
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and words in capsys.readouterr().err


def test_a_device_that_is_not_here_is_one_line(tiny_run, capsys):
    cfg = str(tiny_run / "config.yaml")
    assert main(["bench", cfg, "--device", "bogus", "--size", "32x32"]) == 1
    assert "--device 'bogus': not a device; valid: auto, cpu, cuda" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", cfg, "--device", "cuda", "--size", "32x32"]) == 1
        assert "--device cuda: no such CUDA device here" in capsys.readouterr().err


def test_opsets_torch_onnx_cannot_export_and_non_finite_motion_bins_are_refused(capsys):
    from torch.onnx._constants import ONNX_MAX_OPSET
    for opset in ("15", str(ONNX_MAX_OPSET + 1), "99"):
        with pytest.raises(SystemExit):
            main(["export", "--checkpoint", "k.pt", "--out", "o", "--opset", opset])
    assert f"opsets 16..{ONNX_MAX_OPSET}" in capsys.readouterr().err
    for edges in ("nan", "2,inf", "8,nan", "2,,8"):
        with pytest.raises(SystemExit):
            main(["eval", "--checkpoint", "k.pt", "--motion-bins", edges])
        assert "finite pixel edges" in capsys.readouterr().err
