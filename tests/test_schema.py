"""The typed config schema: every bad value a user typed is one error naming the
key, the value and what is allowed, before anything is written; fuzzed configs never raise
anything else."""
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dff import schema
from dff.cli import main
from dff.config import DEFAULTS, ConfigError, load_config, validate

# (override, the words the error must hold), as a user typed them
BAD = [
    ("model.key_interval=abc", "model.key_interval='abc': must be an integer >= 1"),
    ("model.key_interval=2.5", "model.key_interval=2.5: must be an integer >= 1"),
    ("model.key_interval=0", "model.key_interval=0: must be an integer >= 1"),
    ("data.short_side=0", "data.short_side=0: must be an integer >= 1"),
    ("data.short_side=-5", "data.short_side=-5"),
    ("train.save_every=0", "train.save_every=0: must be an integer >= 1"),
    ("train.log_every=0", "train.log_every=0"),
    ("train.batch_size=0", "train.batch_size=0"),
    ("train.lr=abc", "train.lr='abc': must be a number > 0"),
    ("model.num_classes=0", "model.num_classes=0: must be an integer >= 2 or `null`"),
    ("data.scale_range=[0,0]", "data.scale_range=[0, 0]: must be a list of 2 numbers > 0"),
    ("data.scale_range=[1.5,0.5]", "low must not exceed high"),
    ("data.crop_size=96", "data.crop_size=96: must be a list of 2 integers >= 1"),
    ("data.crop_size=[0,0]", "data.crop_size=[0, 0]"),
    ("data.root=null", "data.root=null: must be a non-empty string"),
    ("train.iters=0", "train.iters=0: must be an integer >= 1"),
    ("train.iters=-1", "train.iters=-1"),
    ("train.keep_last=-1", "train.keep_last=-1: must be an integer >= 0"),
    ("train.val_every=-1", "train.val_every=-1"),
    ("data.context_frames=-1", "data.context_frames=-1: must be an integer >= 0 or `null`"),
    ("data.dataset=bogus", "data.dataset='bogus': must be one of `davis`, `synthetic`"),
    ("model.flow=flownet2", "model.flow='flownet2': must be one of `flownets_lite`"),
    ("model.scale_field=no", "model.scale_field='no': must be `true` or `false`"),
    ("train.amp=fp8", "train.amp='fp8': must be one of `off`, `bf16`, `fp16`"),
    ("train.lr_mult={backbone: fast}", "train.lr_mult={'backbone': 'fast'}: must be a mapping of strings to numbers"),
    ("model.output_stride=12", "model.output_stride=12: must be one of `8`, `16`, `32`"),
]


@pytest.mark.parametrize("override, words", BAD)
def test_a_bad_value_names_the_key_the_value_and_what_is_allowed(override, words):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert words in str(e.value) and "\n" not in str(e.value)


def test_every_bad_key_is_listed_at_once_and_a_file_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: abc\n  iters: 0\nmodel:\n  key_interval: 2.5\n")
    with pytest.raises(ConfigError, match=r"c.yaml: model.key_interval=2.5: .*; train.iters=0: .*; train.lr='abc'"):
        load_config(path)


def test_bad_values_stop_the_cli_before_anything_is_written(tmp_path, capsys):
    work = tmp_path / "run"
    for override in ("train.save_every=0", "train.keep_last=-1", "data.crop_size=96"):
        assert main(["train", "--work-dir", str(work), str(_config(tmp_path)), override]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and override.split("=")[0] in err and "Traceback" not in err
        assert not work.exists()


def _config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  dataset: synthetic\n  root: nowhere\n")
    return path


def test_valid_values_pass_and_keep_their_types():
    cfg = load_config(None, ["train.lr=1", "data.crop_size=null", "model.load_from=[a.pt, b.pt]",
                             "train.compile=aot_eager", "data.label_map={0: 0, 255: 1}"])
    assert cfg["train"]["lr"] == 1.0 and isinstance(cfg["train"]["lr"], float)
    assert cfg["data"]["crop_size"] is None and cfg["model"]["load_from"] == ["a.pt", "b.pt"]
    assert validate(cfg) == cfg == validate(validate(cfg))


@pytest.mark.parametrize("choices, module, name", [
    (schema.BACKBONES, "dff.models.backbones", "BACKBONES"), (schema.FLOWS, "dff.models.flow", "FLOW_NETS"),
    (schema.OBJECTIVES, "dff.engine.train.objective", "OBJECTIVES"),
    (schema.DATASETS, "dff.data.datasets", "DATASETS"), ("optimizer", "dff.engine.train.optim", "OPTIMIZERS"),
    ("scheduler", "dff.engine.train.optim", "SCHEDULERS"), ("amp", "dff.engine.train.step", "AMP_DTYPES"),
    ("key_policy", "dff.inference.policies", "POLICIES"), ("dis_preset", "dff.models.flow.dis", "DIS_PRESETS"),
    ("fusion", "dff.models.accel", "FUSIONS"), ("propagation", "dff.models.segmenter", "PROPAGATIONS"),
    ("arch", "dff.models.build", "ARCHS"), (schema.REFINES, "dff.models.refine", "REFINES")])
def test_the_names_a_yaml_selects_are_those_the_modules_implement(choices, module, name):
    import importlib

    if isinstance(choices, str):  # a Literal field of one of the sections
        section = next(s for s in schema.SECTIONS.values() if choices in s.model_fields)
        choices = get_args(section.model_fields[choices].annotation)
    assert tuple(choices) == tuple(getattr(importlib.import_module(module), name))


KEYS = [(section, name) for section, cls in schema.SECTIONS.items() for name in cls.model_fields]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=True),
                   st.text(max_size=6), st.lists(st.integers(-2, 300), max_size=3),
                   st.dictionaries(st.text(max_size=3), st.integers(-1, 3), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=4))
def test_fuzzed_configs_validate_or_raise_one_config_error(changes):
    cfg = {section: dict(values) for section, values in DEFAULTS.items()}
    for (section, name), value in changes:
        cfg[section][name] = value
    try:
        out = validate(cfg)
    except ConfigError as e:
        assert "\n" not in str(e) and any(f"{s}.{n}" in str(e) for (s, n), _ in changes)
        return
    assert validate(out) == out  # what passes is a fixed point, of plain types


def test_a_compile_backend_torch_does_not_have_is_a_config_error_listing_the_valid_ones():
    with pytest.raises(ConfigError, match=r"train.compile='bogus': not a torch.compile backend; valid: true, false, "
                                          r".*aot_eager.*inductor"):
        load_config(None, ["train.compile=bogus"])
    assert load_config(None, ["train.compile=inductor"])["train"]["compile"] == "inductor"
