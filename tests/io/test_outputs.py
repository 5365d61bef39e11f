"""The output policy: nothing replaced unasked, nothing written onto an input, --overwrite only
replaces what dff wrote; through the CLI, as a user meets them."""
import hashlib
import json
from pathlib import Path

import pytest

from dff.cli import main
from dff.io.outputs import MARKER, check_file, prepare_run_dir, refuse_inputs


def _digest(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_check_file_and_refuse_inputs(tmp_path):
    out = tmp_path / "r.json"
    check_file(out, overwrite=False)  # new: fine
    out.write_text("{}")
    with pytest.raises(FileExistsError, match="r.json: already exists; pass --overwrite"):
        check_file(out, overwrite=False)
    check_file(out, overwrite=True)
    with pytest.raises(FileExistsError, match="is a folder"):
        check_file(tmp_path, overwrite=True)
    with pytest.raises(FileExistsError, match="is or overlaps the checkpoint"):
        check_file(out, overwrite=True, inputs={"checkpoint": str(out)})
    with pytest.raises(FileExistsError, match="is or overlaps the input"):  # into an input folder
        refuse_inputs(tmp_path / "frames" / "labels", {"input": tmp_path / "frames"})
    refuse_inputs(tmp_path / "labels", {"input": tmp_path / "frames", "webcam": 0, "none": None})


def test_overwrite_of_a_json_output_replaces_only_a_json_file(tmp_path):
    from dff.io.outputs import is_json
    earlier, label = tmp_path / "e.json", tmp_path / "00000.png"
    earlier.write_text('{"mean_miou": 0.5}')
    label.write_bytes(b"\x89PNG\r\n\x1a\n")
    check_file(earlier, overwrite=True, kind=("JSON", is_json))
    for other in (label, tmp_path / "config.yaml"):
        other.exists() or other.write_text("model:\n  backbone: resnet18\n")
        with pytest.raises(FileExistsError, match="is not a JSON file; --overwrite replaces only an earlier output"):
            check_file(other, overwrite=True, kind=("JSON", is_json))


def test_prepare_run_dir(tmp_path):
    run = tmp_path / "run"
    prepare_run_dir(run, resume=None, overwrite=False)  # absent
    run.mkdir()
    prepare_run_dir(run, resume=None, overwrite=False)  # empty
    (run / "best.pt").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="--resume auto, or start afresh with --overwrite"):
        prepare_run_dir(run, resume=None, overwrite=False)
    with pytest.raises(FileExistsError, match="not a dff run folder"):  # someone else's folder
        prepare_run_dir(run, resume=None, overwrite=True)
    assert (run / "best.pt").exists()
    (run / MARKER).write_text("")
    prepare_run_dir(run, resume=None, overwrite=True)
    assert not run.exists()


def test_train_into_an_earlier_run_refuses_and_overwrite_starts_clean(tiny_run, tmp_path, capsys, one_thread):
    """A second `dff train` into a run folder silently replaced its best.pt and left the
    old run's ckpt_*.pt beside the new ones."""
    cfg, run = str(tiny_run / "config.yaml"), tmp_path / "run"
    assert main(["train", cfg, "--work-dir", str(run), "train.keep_last=5", "train.save_every=1"]) == 0
    kept = {p.name: _digest(p) for p in run.iterdir() if p.is_file()}
    assert main(["train", cfg, "--work-dir", str(run), "train.iters=1"]) == 1
    err = capsys.readouterr().err
    assert "holds an earlier run; continue it with --resume auto, or start afresh with --overwrite" in err
    assert {p.name: _digest(p) for p in run.iterdir() if p.is_file()} == kept
    assert main(["train", cfg, "--work-dir", str(run), "--resume", "auto", "--overwrite"]) == 1
    assert main(["train", cfg, "--work-dir", str(run), "--overwrite", "train.save_every=2"]) == 0
    assert "ckpt_000001.pt" in kept and not (run / "ckpt_000001.pt").exists()  # nothing of the old run left
    assert (run / MARKER).is_file()


def test_json_never_replaces_a_file_unasked_nor_an_input(tiny_run, tmp_path, capsys):
    """`dff eval C --checkpoint K --json K` turned the checkpoint into JSON."""
    cfg, ckpt = str(tiny_run / "config.yaml"), tiny_run / "best.pt"
    digest = _digest(ckpt)
    base = ["eval", cfg, "--checkpoint", str(ckpt), "--motion-bins", "none"]
    for target in (ckpt, tiny_run / "config.yaml"):
        assert main(base + ["--json", str(target), "--overwrite"]) == 1
        assert "dff never writes onto its inputs" in capsys.readouterr().err
    assert _digest(ckpt) == digest
    out = tmp_path / "e.json"
    out.write_text('"mine"')  # an earlier JSON output (--overwrite replaces no other kind of file)
    assert main(base + ["--json", str(out)]) == 1
    assert "e.json: already exists; pass --overwrite" in capsys.readouterr().err and out.read_text() == '"mine"'
    assert main(base + ["--json", str(out), "--overwrite"]) == 0
    assert "mean_miou" in json.loads(out.read_text())
    assert main(["bench", cfg, "--size", "32x32", "--reps", "1", "--key-intervals", "2", "--json", str(out)]) == 1
    assert main(base + ["--json", str(tmp_path)]) == 1 and "is a folder" in capsys.readouterr().err


def test_a_resume_that_does_not_fit_changes_nothing(tiny_run, tmp_path, capsys, one_thread):
    """A resume with another num_classes raised a raw RuntimeError after config.yaml had
    been overwritten with the wrong config."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    kept = {p.name: _digest(p) for p in run.iterdir() if p.is_file()}
    assert main(["train", str(run / "config.yaml"), "--work-dir", str(run), "--resume", "auto",
                 "model.num_classes=5", "train.iters=4"]) == 1
    err = capsys.readouterr().err
    assert "weights do not fit the configured model" in err and "Traceback" not in err
    assert {p.name: _digest(p) for p in run.iterdir() if p.is_file()} == kept


def test_io_errors_truncated_frames_and_non_finite_weights_are_one_line(tiny_run, synthetic_root, tmp_path, capsys):
    """An output under a file, a truncated frame PNG (sound header) and a
    checkpoint with NaN weights each give one line naming the file, exit status 1."""
    import shutil

    import torch

    (tmp_path / "file").write_text("x")
    cfg = str(tiny_run / "config.yaml")
    assert main(["train", cfg, "--work-dir", str(tmp_path / "file" / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "file" in err and "Traceback" not in err
    root = tmp_path / "set"
    shutil.copytree(synthetic_root, root)
    frame = sorted((root / "val").glob("*/frames/00003.png"))[0]
    frame.write_bytes(frame.read_bytes()[:200])
    assert main(["check-data", cfg, f"data.root={root}"]) == 1
    assert f"{frame}: unreadable image" in capsys.readouterr().out
    ckpt = torch.load(tiny_run / "best.pt", weights_only=True)
    ckpt["model"]["head.weight" if "head.weight" in ckpt["model"] else next(iter(ckpt["model"]))].fill_(float("nan"))
    torch.save(ckpt, tmp_path / "nan.pt")
    assert main(["eval", cfg, "--checkpoint", str(tmp_path / "nan.pt"), "--motion-bins", "none"]) == 1
    assert "nan.pt: non-finite weights in 1 tensors" in capsys.readouterr().err


def test_stale_temp_files_of_a_killed_run_are_removed_by_the_next(tmp_path, capsys):
    """A SIGKILLed run leaves hidden temp files; the names are those the writers
    really use (taken from them), and nothing else is touched."""
    import numpy as np

    from dff.io.label_writer import LabelPngWriter
    from dff.io.outputs import remove_stale_temps
    from dff.io.video_writer import VideoWriter
    from dff.engine import checkpoint
    from dff.io import publish

    run = tmp_path / "run"
    run.mkdir()
    (run / MARKER).write_text("")  # a folder dff wrote (a foreign one's files are never touched)
    names = []
    real_replace = publish.os.replace
    publish.os.replace = lambda src, dst: (names.append(str(src)), real_replace(src, dst))
    try:
        checkpoint.save_checkpoint({"model": {}}, run / "last.pt")
    finally:
        publish.os.replace = real_replace
    video = VideoWriter(run / "v.mp4", 10, (16, 16), codec="mp4v")
    labels = LabelPngWriter(run / "lab", np.zeros((4, 3), np.uint8), (16, 16))
    kept = [run / "last.pt", run / ".hidden", run / "notes.tmp", run / ".x.old-0123abcd"]
    for p in kept[1:]:
        p.write_text("mine")
    stale = {names[0].rsplit("/", 1)[-1], video._tmp.name, labels._out.tmp.name, ".e.json.tmp-4242"}
    real_replace(run / "last.pt", run / names[0].rsplit("/", 1)[-1])  # as if killed before the rename
    checkpoint.save_checkpoint({"model": {}}, run / "last.pt")
    (run / ".e.json.tmp-4242").write_text("{")
    video._enc.close()  # killed: the encoder's file and the label folder stay where they are
    assert stale <= {p.name for p in run.iterdir()}
    prepare_run_dir(run, resume="auto", overwrite=False)
    assert "removed 4 temp file(s) of an interrupted run" in capsys.readouterr().out
    assert not stale & {p.name for p in run.iterdir()} and all(p.exists() for p in kept)
    # a label folder set aside while being replaced is the only copy while its target is missing
    assert remove_stale_temps(run, "x") == [] and (run / ".x.old-0123abcd").exists()
    (run / "x").mkdir()
    assert remove_stale_temps(run, "x") == [run / ".x.old-0123abcd"]


def test_a_write_that_fails_names_the_file_and_the_reason(tiny_run, tmp_path):
    """A full disk (here a file-size limit, the same failed write()) was a traceback;
    now one line with the path and the operating system's reason, and no temp file left."""
    import os
    import resource
    import subprocess
    import sys

    run = tmp_path / "run"

    def limit():  # 1 MB per file: the model's checkpoint cannot be written
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    cmd = [sys.executable, "-m", "dff", "train", str(tiny_run / "config.yaml"), "--work-dir", str(run),
           "--device", "cpu", "train.iters=1", "train.val_every=0", "train.save_every=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert err[-1] == f"dff train: error: [Errno 27] File too large: '{run / 'last.pt'}'", err[-3:]
    assert "Traceback" not in proc.stderr and not [p for p in run.iterdir() if p.name.startswith(".last")]


def test_eval_json_never_lands_in_the_data_it_evaluates(tiny_run, tiny_cfg, capsys):
    label = sorted((Path(tiny_cfg["data"]["root"]) / "val").glob("*/labels/*.png"))[0]
    before = label.read_bytes()
    assert main(["eval", "--checkpoint", str(tiny_run / "best.pt"), "--motion-bins", "none", "--json", str(label),
                 "--overwrite", "--device", "cpu"]) == 1
    assert "is or overlaps the data" in capsys.readouterr().err and label.read_bytes() == before


def test_train_overwrite_never_removes_what_the_run_reads(tiny_run, tiny_cfg, tmp_path, capsys):
    """--overwrite of a run folder that holds the run's config, its data or its model.load_from
    refuses in one line and removes nothing."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.copytree(tiny_cfg["data"]["root"], run / "data")
    files = sorted(p.relative_to(run) for p in run.rglob("*"))
    for extra in ([str(run / "config.yaml")], [str(tiny_run / "config.yaml"), f"data.root={run / 'data'}"],
                  [str(tiny_run / "config.yaml"), f"model.load_from={run / 'best.pt'}"]):
        assert main(["train", *extra, "--work-dir", str(run), "--overwrite", "--device", "cpu"]) == 1
        err = capsys.readouterr().err
        assert "this run reads" in err and "not replacing the folder" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == files
    inside = Path(tiny_cfg["data"]["root"]) / "val" / "runs"
    assert main(["train", str(tiny_run / "config.yaml"), "--work-dir", str(inside), "--device", "cpu"]) == 1
    assert "lies in the data this run reads" in capsys.readouterr().err and not inside.exists()


def test_resume_in_a_folder_dff_did_not_write_touches_none_of_its_files(tiny_run, tmp_path, capsys):
    """--resume auto in someone's folder would write its last.pt and ckpt_*.pt names and prune
    and sweep temps there: refused in one line, every file as it was; the folder is not marked."""
    mine = tmp_path / "mine"
    mine.mkdir()
    theirs = {"ckpt_000001.pt": b"a file of the user's", ".last.pt.0123abcd.tmp": b"also theirs", "notes.txt": b"x"}
    for name, data in theirs.items():
        (mine / name).write_bytes(data)
    cfg = str(tiny_run / "config.yaml")
    for resume in ("auto", str(tiny_run / "last.pt")):
        assert main(["train", cfg, "--work-dir", str(mine), "--resume", resume, "train.keep_last=1",
                     "train.save_every=1", "train.iters=3", "--device", "cpu"]) == 1
        err = capsys.readouterr().err
        assert "mine: is not a dff run folder (no .dff-output); not resuming in it" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == theirs
    with pytest.raises(FileExistsError, match="not a dff run folder"):
        prepare_run_dir(mine, resume=None, overwrite=True)


def test_a_run_folder_of_an_earlier_version_is_one_holding_only_a_runs_files(tiny_run, tmp_path):
    import shutil

    from dff.io.outputs import is_ours
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / MARKER).unlink()  # written before dff marked its folders
    assert is_ours(run)
    (run / "thesis.tex").write_text("a user's file beside a config.yaml")
    assert not is_ours(run)
