import json
from pathlib import Path

import pytest
import yaml

from dff.cli import main
from dff.config import DEFAULTS, ConfigError, load_config, parse_override, save_config
from dff.engine.builders import model_from_config
from dff.engine.checkpoint import load_checkpoint


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


def test_yaml_problems_are_one_line_with_the_file_line_and_column(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("model:\n  flow: [dis\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: not valid YAML at line 3, column 1: expected ',' or ']', but got '<stream end>'"
    p.write_bytes(b"model:\n  flow: \xff\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not UTF-8 text \(byte 0xff at offset 15\)$"):
        load_config(p)
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.flow=[dis"])
    assert "\n" not in str(e.value) and "line 1, column 5" in str(e.value)


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("model:\n  key_interval: 3\n  flow: dis\n  key_interval: 4\ntrain:\n  iters: 1\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: not valid YAML at line 4, column 3: duplicate key "
                                          r"'key_interval' \(lines 2 and 4\)"):
        load_config(p)
    p.write_text("model:\n  key_interval: 3\nmodel:\n  flow: dis\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'model' \(lines 1 and 3\)"):
        load_config(p)
    assert parse_override("train.lr_mult={a: 1, b: 2}") == {"train": {"lr_mult": {"a": 1, "b": 2}}}
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        parse_override("train.lr_mult={a: 1, a: 2}")


def test_a_checkpoint_config_that_is_not_a_mapping_is_one_error(tmp_path):
    from dff.config import saved_config
    with pytest.raises(ConfigError, match=r"^k.pt: its config entry is str, not a mapping of sections$"):
        saved_config({"model": {}, "config": "hello"}, "k.pt: ")


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



def test_only_true_and_false_are_booleans(tmp_path):
    # YAML 1.1 reads off/on/yes/no as booleans: `amp: off` would become False, not the mode "off".
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  amp: off\n  channels_last: true\n  compile: False\n")
    tc = load_config(p)["train"]
    assert (tc["amp"], tc["channels_last"], tc["compile"]) == ("off", True, False)
    assert load_config(None, ["train.amp=off"])["train"]["amp"] == "off"
    with pytest.raises(ConfigError, match="model.scale_field='no': must be `true` or `false`"):
        load_config(None, ["model.scale_field=no"])
    assert load_config(None, ["train.compile=aot_eager"])["train"]["compile"] == "aot_eager"



SHIPPED = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_load_and_build(path, request):
    cfg = load_config(path, ["model.pretrained=null"])  # no weight download in tests
    if (cfg["model"]["key_network"] or "").startswith("hf:"):  # nor the hub: a local SegFormer
        cfg = load_config(path, [f"model.key_network=hf:{request.getfixturevalue('segformer_folder')[0]}"])
    model = model_from_config(cfg, cfg["model"]["num_classes"] or (19 if cfg["model"]["key_network"] else 2))
    assert sum(p.numel() for p in model.parameters()) > 0


def test_a_base_file_is_read_first_relative_to_the_file_and_loops_are_refused(tmp_path):
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "data.yaml").write_text("data: {short_side: 320, jitter: 0.1}\ntrain: {lr_mult: {backbone: 0.1}}\n")
    (tmp_path / "stage.yaml").write_text("base: sets/data.yaml\ndata: {jitter: 0.3}\ntrain: {lr_mult: {head: 2.0}}\n")
    cfg = load_config(tmp_path / "stage.yaml", ["data.short_side=400"])
    assert (cfg["data"]["short_side"], cfg["data"]["jitter"]) == (400, 0.3)
    assert cfg["train"]["lr_mult"] == {"backbone": 0.1, "head": 2.0}  # merged as an override would be
    (tmp_path / "sets" / "data.yaml").write_text("base: ../stage.yaml\n")
    with pytest.raises(ConfigError, match="in a loop"):
        load_config(tmp_path / "stage.yaml")
    (tmp_path / "stage.yaml").write_text("base: [a.yaml]\n")
    with pytest.raises(ConfigError, match="stage.yaml: base must be the path"):
        load_config(tmp_path / "stage.yaml")


# The overrides the published recipe400bb figures were trained with (docs/model_zoo.md, docs/tradeoff.md)
RECIPE_400BB = {
    "1_perframe": ["train.objective=per_frame", "train.lr_mult={backbone: 0.5}", "train.iters=880",
                   "train.val_every=880", "train.save_every=880", "data.jitter=0.3", "model.refine=guided",
                   "train.batch_size=4", "train.channels_last=true", "train.lr=2.0e-3", "data.short_side=400",
                   "data.scale_range=[0.5, 1.25]"],
    "2_propagate": ["model.load_from=runs/lite0_{split}_recipe400_pf/best.pt", "model.load_modules=null",
                    "train.iters=400", "train.val_every=0", "train.save_every=400", "train.warmup_iters=40",
                    "train.freeze=[backbone]", "model.refine=guided", "train.batch_size=4", "train.channels_last=true",
                    "train.lr_mult={flow_net: 0.1, flow_net.scale: 1.0}", "data.short_side=400",
                    "model.flow_scale=0.3"]}


# The Accel us04 row's stages as scripts/davis_accel_fast.sh trained them: (stage config, its overrides)
ACCEL_US04 = {
    "1_update_half": ("accel_r18_stage1_update.yaml", ["model.update_scale=0.5",
                      "model.load_from=runs/accel_r18_stage1/best.pt", "train.iters=200", "train.val_every=100",
                      "train.save_every=100", "train.warmup_iters=10"]),
    "2_update_04": ("accel_r18_stage1_update.yaml", ["model.update_scale=0.4",
                    "model.load_from=runs/accel_r18_half_stage1/best.pt", "train.iters=200", "train.val_every=100",
                    "train.save_every=100", "train.warmup_iters=10"]),
    "3_fusion": ("accel_r18_stage2_fusion.yaml", ["model.update_scale=0.4", "model.flow_scale=0.25",
                 "model.load_from=runs/accel_r18_us04_stage1/best.pt"])}


# recipe2 (temporal) as scripts/davis_perframe_stage.sh trained it
RECIPE2 = {
    "1_perframe": ["train.objective=per_frame", "train.lr_mult={backbone: 0.5}", "train.iters=600", "train.iters=720",
                   "train.val_every=720", "train.save_every=720", "data.jitter=0.3", "data.scale_range=[0.5, 1.75]",
                   "model.refine=guided", "train.batch_size=4", "train.channels_last=true"],
    "2_propagate": ["model.load_from=runs/lite0_temporal_recipe2_pf/best.pt", "model.load_modules=null",
                    "train.iters=200", "train.val_every=0", "train.save_every=200", "train.warmup_iters=20",
                    "train.freeze=[backbone, feature_conv, head]", "model.refine=guided", "train.batch_size=4",
                    "train.channels_last=true", "train.lr_mult={flow_net: 0.1, flow_net.scale: 1.0}"]}


# Every staged config of configs/davis/recipes/: (the config its published run started from, the
# overrides that run was trained with)
PUBLISHED = {
    **{f"lite0_400bb_{split}_{stage}.yaml": (f"dff_lite0_s16_{split}.yaml",
                                            [o.replace("{split}", split) for o in overrides])
       for split in ("temporal", "sequences") for stage, overrides in RECIPE_400BB.items()},
    **{f"lite0_recipe2_temporal_{stage}.yaml": ("dff_lite0_s16_temporal.yaml", overrides)
       for stage, overrides in RECIPE2.items()},
    **{f"accel_r18_us04_{stage}.yaml": base_and_overrides for stage, base_and_overrides in ACCEL_US04.items()}}


def test_every_recipe_config_is_pinned():
    recipes = Path(__file__).resolve().parents[1] / "configs" / "davis" / "recipes"
    assert sorted(p.name for p in recipes.glob("*.yaml")) == sorted(PUBLISHED)


@pytest.mark.parametrize("recipe", sorted(PUBLISHED))
def test_recipe_configs_are_the_published_runs(recipe):
    configs = Path(__file__).resolve().parents[1] / "configs" / "davis"
    base, overrides = PUBLISHED[recipe]
    assert load_config(configs / "recipes" / recipe) == load_config(configs / base, overrides)


@pytest.mark.parametrize("name", ["cityscapes/dff_r50_s8.yaml", "camvid/dff_r18_s8.yaml"])
def test_dataset_configs_read_their_layout(name, tmp_path, capsys):
    from layout_fixtures import make_camvid, make_cityscapes

    if name.startswith("cityscapes"):
        pytest.importorskip("cityscapesscripts.helpers.labels")
    root = (make_cityscapes if name.startswith("cityscapes") else make_camvid)(tmp_path / "set")
    path = Path(__file__).resolve().parents[1] / "configs" / name
    assert main(["check-data", str(path), f"data.root={root}"]) == 0, capsys.readouterr().out
    assert "no problems found" in capsys.readouterr().out


TINY_MODEL = ["model.backbone=resnet18", "model.pretrained=null", "model.feat_channels=16", "model.flow_width=0.25",
              "model.key_interval=3", "data.short_side=32", "data.crop_size=[32, 32]", "train.iters=2",
              "train.batch_size=2", "train.val_every=2", "train.save_every=2", "train.workers=0",
              "train.amp=off", "train.warmup_iters=1"]


@pytest.mark.parametrize("name", ["cityscapes/dff_r50_s8.yaml", "camvid/dff_r18_s8.yaml"])
def test_dataset_configs_train_and_evaluate_on_sparse_labels(name, tmp_path, capsys):
    from layout_fixtures import make_camvid, make_cityscapes

    if name.startswith("cityscapes"):
        pytest.importorskip("cityscapesscripts.helpers.labels")
    root = (make_cityscapes if name.startswith("cityscapes") else make_camvid)(tmp_path / "set")
    path = str(Path(__file__).resolve().parents[1] / "configs" / name)
    over = [f"data.root={root}", *TINY_MODEL]
    assert main(["train", path, "--device", "cpu", "--work-dir", str(tmp_path / "run"), *over]) == 0
    assert main(["eval", path, "--device", "cpu", "--checkpoint", str(tmp_path / "run" / "last.pt"),
                 "--json", str(tmp_path / "eval.json"), *over]) == 0
    res = json.loads((tmp_path / "eval.json").read_text())
    # one val label each, scored with its key 0, 1 and 2 frames back (the context frames before it)
    assert res["frames_by_distance"] == [1, 1, 1]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["num_classes"] == (19 if "cityscapes" in name else 11)


def test_the_key_reference_is_generated_from_the_schema(capsys):
    from dff import schema

    keys = [f"{s}.{n}" for s, cls in schema.SECTIONS.items() for n in cls.model_fields]
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert all(f"{key} = " in out for key in keys) and "model.flow_scale = 0.5" in out
    assert "allowed: a number > 0 and <= 1" in out
    assert main(["config", "--markdown"]) == 0
    docs = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert capsys.readouterr().out == docs.read_text(), "docs/config.md is stale: dff config --markdown > docs/config.md"
    assert all(f"| `{key}` |" in docs.read_text() for key in keys)
    assert sum(len(section) for section in DEFAULTS.values()) == len(keys)


def test_retired_keys_of_old_runs_are_dropped_with_a_note(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  key_signal: flow\n  key_threshold: 0.2\n  key_interval: 4\n")
    cfg = load_config(path)
    assert "key_signal" not in cfg["model"] and cfg["model"]["key_interval"] == 4
    assert "model.key_signal ignored: the research key-frame policies moved to experiments/" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown config key 'model.key_signal'"):
        load_config(None, ["model.key_signal=flow"])  # typed by hand: an error as before
