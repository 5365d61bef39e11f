import pytest
import yaml

from dff.config import DEFAULTS, ConfigError, load_config, parse_override, save_config


def test_defaults_hold_the_documented_keys():
    cfg = load_config()
    for key in ("data.root", "model.backbone", "model.flow", "model.key_interval", "train.iters",
                "train.batch_size", "train.lr", "train.val_every", "train.save_every", "train.seed"):
        section, name = key.split(".")
        assert name in cfg[section], key


def test_yaml_then_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  backbone: resnet50\ntrain:\n  iters: 10\n")
    cfg = load_config(p, ["train.iters=20", "data.crop_size=[64, 96]", "model.pretrained=null"])
    assert cfg["model"]["backbone"] == "resnet50"
    assert cfg["train"]["iters"] == 20
    assert cfg["data"]["crop_size"] == [64, 96]
    assert cfg["model"]["pretrained"] is None
    assert cfg["train"]["lr"] == DEFAULTS["train"]["lr"]  # untouched keys keep defaults


def test_override_values_are_yaml():
    assert parse_override("train.lr=1e-3") == {"train": {"lr": 1e-3}}
    assert parse_override("model.scale_field=false") == {"model": {"scale_field": False}}
    assert parse_override("data.root=a=b") == {"data": {"root": "a=b"}}
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.lr")


def test_unknown_keys_list_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'train.itres'.*iters"):
        load_config(None, ["train.itres=3"])
    p = tmp_path / "bad.yaml"
    p.write_text("modle:\n  backbone: resnet18\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*'modle'.*model"):
        load_config(p)
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(None, ["train=3"])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    p = tmp_path / "broken.yaml"
    p.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(p)


def test_save_round_trip(tmp_path):
    cfg = load_config(None, ["train.iters=7"])
    save_config(cfg, tmp_path / "config.yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == cfg
    assert load_config(tmp_path / "config.yaml") == cfg


def test_exponent_floats_without_dot_are_floats(tmp_path):
    # PyYAML (YAML 1.1) would read 1e-3 as a string; configs are written that way all the time.
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  lr: 5e-4\n")
    assert load_config(p)["train"]["lr"] == 5e-4
    assert load_config(None, ["train.lr=2E-3"])["train"]["lr"] == 2e-3
