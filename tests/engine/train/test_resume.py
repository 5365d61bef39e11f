"""Resume: an interrupted run continued with --resume equals the uninterrupted one, bit for bit."""
import json
import os
import pickle
import shutil

import pytest
import torch

from dff.cli import main
from dff.config import merge, save_config
from dff.engine.checkpoint import load_checkpoint
from dff.engine.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

# 16 training samples, batch 6: 2 steps per epoch, so the runs cross epochs and the resume point
# (iteration 3) lies mid-epoch; random scale keeps the per-sample draws busy.
RESUME = {"data": {"scale_range": [0.8, 1.2]},
          "train": {"iters": 5, "batch_size": 6, "save_every": 3, "val_every": 0, "keep_last": 2}}


@pytest.fixture(scope="module")
def cfg(tiny_cfg):
    return merge(tiny_cfg, RESUME)


@pytest.fixture(scope="module")
def straight(cfg, tmp_path_factory, one_thread):
    """The uninterrupted run."""
    run = tmp_path_factory.mktemp("straight")
    train(cfg, run, device="cpu", progress=False)
    return run


@pytest.fixture(scope="module")
def interrupted(cfg, tmp_path_factory, one_thread):
    """A run stopped after iteration 4; its newest checkpoint is from iteration 3."""
    run = tmp_path_factory.mktemp("interrupted")
    train(cfg, run, device="cpu", progress=False, stop_after=4)
    return run


def assert_same_state(a, b):
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for p, s in a["optimizer"]["state"].items():
        for name, t in s.items():
            assert torch.equal(t, b["optimizer"]["state"][p][name]), (p, name)
    assert a["scheduler"] == b["scheduler"] and a["iteration"] == b["iteration"]


def test_resumed_run_equals_the_uninterrupted_one(cfg, straight, interrupted, tmp_path):
    assert load_checkpoint(interrupted / "last.pt")["iteration"] == 3  # iteration 4 is lost work
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    train(cfg, run, device="cpu", progress=False, resume="auto")
    assert_same_state(load_checkpoint(straight / "last.pt"), load_checkpoint(run / "last.pt"))
    assert sorted(p.name for p in run.glob("ckpt_*.pt")) == ["ckpt_000003.pt", "ckpt_000005.pt"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["iter"] for line in lines] == [1, 2, 3, 4, 3, 4, 5]
    assert lines[4]["resumed_from"].endswith("last.pt")
    assert lines[3]["loss"] == lines[5]["loss"]  # iteration 4 once more, identically


def test_resume_auto_falls_back_past_truncated_checkpoints(cfg, straight, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    for name in ("last.pt", "ckpt_000005.pt"):  # as if the machine died while writing them
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="last.pt: not a loadable dff checkpoint"):
        load_checkpoint(run / "last.pt")
    with pytest.warns(UserWarning) as caught:
        train(cfg, run, device="cpu", progress=False, resume="auto")
    skipped = [str(w.message) for w in caught if "skipping" in str(w.message)]
    assert len(skipped) == 2 and all("not a loadable dff checkpoint" in m for m in skipped)
    assert "last.pt" in skipped[0] and "ckpt_000005.pt" in skipped[1]
    assert_same_state(load_checkpoint(straight / "last.pt"), load_checkpoint(run / "last.pt"))


def test_resume_auto_in_an_empty_dir_starts_afresh(cfg, tmp_path):
    train(merge(cfg, {"train": {"iters": 1}}), tmp_path, device="cpu", progress=False, resume="auto")
    assert load_checkpoint(tmp_path / "last.pt")["iteration"] == 1


def test_resume_from_a_missing_or_malicious_file_is_refused(cfg, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="nope.pt: checkpoint not found"):
        train(cfg, tmp_path / "run", device="cpu", progress=False, resume=tmp_path / "nope.pt")
    cfg_file = tmp_path / "tiny.yaml"
    save_config(cfg, cfg_file)
    assert main(["train", str(cfg_file), "--device", "cpu", "--work-dir", str(tmp_path / "run"),
                 "--resume", str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt: checkpoint not found" in capsys.readouterr().err

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"model": Evil(), "iteration": 1}, protocol=2))
    with pytest.raises(ValueError, match="evil.pt: not a loadable"):
        train(cfg, tmp_path / "run", device="cpu", progress=False, resume=evil)
    assert not (tmp_path / "pwned").exists()
