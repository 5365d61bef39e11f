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
