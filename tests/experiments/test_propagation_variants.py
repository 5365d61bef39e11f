import subprocess
import sys
from pathlib import Path

import torch

from dff.engine.builders import load_split, load_trained, run_config
from experiments.propagation_variants import VARIANTS, variants

ROOT = Path(__file__).resolve().parents[2]


def test_variants_agree_where_they_must(tiny_run):
    cfg, ckpt = run_config(None, [], tiny_run / "best.pt")
    model, ckpt = load_trained(cfg, tiny_run / "best.pt", torch.device("cpu"), ckpt)
    store = load_split(cfg, "val")
    by_variant, per_seq = variants(model, store, int(ckpt["num_classes"]), cfg["data"]["ignore_index"], k=3)
    assert set(by_variant) == set(VARIANTS) and all(len(v) == 3 for v in by_variant.values())
    assert all(0.0 <= x <= 1.0 for v in by_variant.values() for x in v)
    assert len({v[0] for v in by_variant.values()}) == 1  # d = 0 is the key frame itself for every variant
    # one frame after the key, direct, chained and composed use the same flow to the key: the same warp
    assert by_variant["direct"][1] == by_variant["chained"][1] == by_variant["composed"][1]
    assert [name for name, _ in per_seq] == [clip.name for clip in store.clips]


def test_the_command_prints_every_variant(tiny_run):
    out = subprocess.run([sys.executable, "-m", "experiments.propagation_variants", str(tiny_run / "best.pt"),
                          "--key-interval", "3"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    rows = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert set(VARIANTS) <= rows and "d=2" in out
