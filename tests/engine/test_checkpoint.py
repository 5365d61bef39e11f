import os
import pickle

import pytest
import torch

from dff.engine.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_with_weights_only(tmp_path):
    ckpt = {"model": {"w": torch.arange(3.0)}, "iteration": 4, "config": {"a": [1, "b"]}}
    save_checkpoint(ckpt, tmp_path / "c.pt")
    back = torch.load(tmp_path / "c.pt", weights_only=True)
    assert torch.equal(back["model"]["w"], ckpt["model"]["w"]) and back["config"] == ckpt["config"]
    assert load_checkpoint(tmp_path / "c.pt")["iteration"] == 4


def test_failed_save_keeps_previous_file_and_leaves_no_partial(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_checkpoint({"model": {}, "bad": lambda: 0}, path)  # lambdas cannot be pickled
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


def test_truncated_missing_and_malicious_files_are_refused(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint({"model": {"w": torch.ones(100)}}, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="cut.pt: not a loadable"):
        load_checkpoint(cut)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"model": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="evil.pt"):
        load_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no 'model' entry"):
        load_checkpoint(tmp_path / "other.pt")


def test_refusals_are_one_line_naming_the_file(tmp_path):
    garbage, evil = tmp_path / "garbage.pt", tmp_path / "evil.pt"
    garbage.write_bytes(bytes(range(256)) * 8)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"model": {}, "x": Evil()}, evil)
    for path in (garbage, evil):
        with pytest.raises(ValueError) as e:
            load_checkpoint(path)
        assert str(e.value) == (f"{path}: not a loadable dff checkpoint: not plain tensors, refused without "
                                "unpickling (torch.load weights_only)")
    cut = tmp_path / "cut.pt"
    save_checkpoint({"model": {"w": torch.ones(100)}}, cut)
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(ValueError) as e:
        load_checkpoint(cut)
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{cut}: not a loadable dff checkpoint (")
    for bad in ("three", 0, True, 2.0):
        torch.save({"model": {}, "num_classes": bad}, tmp_path / "n.pt")
        with pytest.raises(ValueError, match=r"n.pt: num_classes .* is not a class count"):
            load_checkpoint(tmp_path / "n.pt")


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    import random

    import numpy as np

    from dff.engine.train.resume import rng_state, set_rng_state

    random.gauss(0, 1)  # a cached gaussian is part of python's state
    save_checkpoint({"model": {}, "rng": [rng_state()]}, tmp_path / "r.pt")
    draws = (random.random(), np.random.rand(), torch.rand(1))
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"][0])
    assert (random.random(), np.random.rand()) == draws[:2] and torch.equal(torch.rand(1), draws[2])


def test_one_serialisation_written_to_several_paths_and_pruned(tmp_path):
    from dff.engine.train.resume import KeptCheckpoints, find_resume, kept_checkpoints

    for it in (2, 4, 6, 8, 10):
        save_checkpoint({"model": {}, "iteration": it}, tmp_path / "last.pt", tmp_path / f"ckpt_{it:06d}.pt")
    assert (tmp_path / "last.pt").read_bytes() == (tmp_path / "ckpt_000010.pt").read_bytes()
    KeptCheckpoints(tmp_path, 2).prune()
    assert [p.name for p in kept_checkpoints(tmp_path)] == ["ckpt_000008.pt", "ckpt_000010.pt"]
    # a crash between the two writes: the ckpt file is newer than last.pt
    save_checkpoint({"model": {}, "iteration": 12}, tmp_path / "ckpt_000012.pt")
    assert find_resume(tmp_path) == tmp_path / "ckpt_000012.pt"
    (tmp_path / "ckpt_000012.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(UserWarning, match="skipping .*ckpt_000012.pt"):
        assert find_resume(tmp_path) == tmp_path / "last.pt"
    KeptCheckpoints(tmp_path, 0).prune()
    assert kept_checkpoints(tmp_path) == [] and find_resume(tmp_path) == tmp_path / "last.pt"
    assert find_resume(tmp_path / "empty") is None


def test_training_never_prunes_or_writes_in_a_folder_dff_did_not_write(tiny_cfg, tmp_path):
    """train() itself (the Python API skips the CLI's checks) refuses a foreign folder, resumed in
    or not: its ckpt_*.pt and temp files are never pruned, nothing is written there."""
    from dff.engine.train import train
    from dff.engine.train.resume import KeptCheckpoints, kept_checkpoints

    (tmp_path / "ckpt_000001.pt").write_bytes(b"the user's own file")
    (tmp_path / ".notes.tmp").write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    for resume in ("auto", None):
        with pytest.raises(FileExistsError, match="is not a dff run folder"):
            train({**tiny_cfg, "train": {**tiny_cfg["train"], "keep_last": 1}}, tmp_path, device="cpu",
                  progress=False, resume=resume)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "ckpt_000001.pt").read_bytes() == b"the user's own file"
    run = tmp_path / "run"  # dff's folder: what it holds is the run's
    kept = KeptCheckpoints(run, 1)
    for it in (2, 4):
        save_checkpoint({"model": {}, "iteration": it}, run / "last.pt", *kept.paths(it))
        kept.prune()
    assert [p.name for p in kept_checkpoints(run)] == ["ckpt_000004.pt"]
    assert KeptCheckpoints(run, 0).paths(10) == []
