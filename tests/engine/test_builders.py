"""The checkpoint owns its config: eval, infer, bench and dff.load take the
trained model's config from the checkpoint; CONFIG and overrides may change only how it runs."""
import json

import pytest

import dff
from dff.cli import main
from dff.config import ConfigError
from dff.data.synthetic import write_synthetic


def _eval(tiny_run, tmp_path, *extra, name="e.json"):
    out = tmp_path / name
    code = main(["eval", *extra, "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu",
                 "--motion-bins", "none", "--json", str(out)])
    return code, (json.loads(out.read_text()) if code == 0 else None)


def test_eval_needs_no_config_and_scores_as_with_it(tiny_run, tmp_path):
    code, own = _eval(tiny_run, tmp_path)
    assert code == 0
    code, with_config = _eval(tiny_run, tmp_path, str(tiny_run / "config.yaml"), name="c.json")
    assert code == 0 and own["miou_by_distance"] == with_config["miou_by_distance"]
    # an override where the optional CONFIG may stand is an override, and one of how it runs is fine
    code, k2 = _eval(tiny_run, tmp_path, "model.key_interval=2", name="k.json")
    assert code == 0 and len(k2["miou_by_distance"]) == 2
    code, flip = _eval(tiny_run, tmp_path, "model.key_flip=true", name="f.json")  # test-time flip: how it runs
    assert code == 0 and 0 < flip["per_frame_miou"] <= 1


def test_a_key_that_changes_the_trained_model_is_an_error_listing_both_values(tiny_run, tmp_path, capsys):
    code, _ = _eval(tiny_run, tmp_path, "model.output_stride=32")
    err = capsys.readouterr().err
    assert code == 1 and "model.output_stride: trained 8, given 32" in err and len(err.strip().splitlines()) == 1
    edited = tmp_path / "edited.yaml"
    edited.write_text((tiny_run / "config.yaml").read_text().replace("feat_channels: 16", "feat_channels: 32")
                      .replace("padding_mode: border", "padding_mode: zeros"))
    code, _ = _eval(tiny_run, tmp_path, str(edited))
    err = capsys.readouterr().err
    assert code == 1 and "model.feat_channels: trained 16, given 32" in err
    assert "model.padding_mode: trained border, given zeros" in err
    code, _ = _eval(tiny_run, tmp_path, "model.num_classes=7")
    assert code == 1 and "model.num_classes: trained 3, given 7" in capsys.readouterr().err
    code, _ = _eval(tiny_run, tmp_path, "model.flow=raft_small")
    assert code == 1 and "a flow swap must be to one that needs no training" in capsys.readouterr().err
    code, dis = _eval(tiny_run, tmp_path, "model.flow=dis", "model.flow_scale=1.0")
    assert code == 0 and "flow network swapped" in capsys.readouterr().out


def test_a_model_is_not_scored_on_data_with_other_classes(tiny_run, tmp_path, capsys):
    four = write_synthetic(tmp_path / "four", {"train": 1, "val": 1}, num_frames=4, size=(48, 64), num_classes=4)
    code, _ = _eval(tiny_run, tmp_path, f"data.root={four}")
    assert code == 1 and "the model predicts 3 classes but the data (synthetic at" in capsys.readouterr().err


def test_infer_and_bench_take_the_checkpoints_config(tiny_run, synthetic_root, tmp_path, capsys):
    frames = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    base = ["infer", "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu", "--input", str(frames)]
    assert main(base + ["--output", str(tmp_path / "l"), "--mode", "labels"]) == 0
    assert len(list((tmp_path / "l").glob("*.png"))) == 8
    assert main(base + ["--output", str(tmp_path / "m"), "--mode", "labels", "model.backbone=resnet34"]) == 1
    assert "model.backbone: trained resnet18, given resnet34" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(["bench", "--checkpoint", str(tiny_run / "best.pt"), "--size", "32x32", "--reps", "1",
                 "--key-intervals", "1,2", "--device", "cpu", "--json", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["feat_channels"] == 16
    assert main(["eval", "--device", "cpu"]) == 1
    assert "give a CONFIG, or the --checkpoint" in capsys.readouterr().err


def test_dff_load_refuses_overrides_that_change_the_trained_model(tiny_run):
    assert dff.load(tiny_run / "best.pt", key_interval=2, flow="zero", device="cpu").key_interval == 2
    with pytest.raises(ConfigError, match="model.output_stride: trained 8, given 16"):
        dff.load(tiny_run / "best.pt", output_stride=16, device="cpu")
    with pytest.raises(ConfigError, match="model.key_interval=0: must be an integer >= 1"):
        dff.load(tiny_run / "best.pt", key_interval=0, device="cpu")
