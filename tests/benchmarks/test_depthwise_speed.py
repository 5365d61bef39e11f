"""benchmarks/depthwise_speed.py times each dilated depthwise conv of a backbone both ways."""
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.perf  # a performance study: pytest -m perf

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "depthwise_speed.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_lists_every_dilated_layer_and_the_total():
    proc = run("--size", "32", "--batch", "1", "--reps", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = proc.stdout.splitlines()
    assert [r.split()[0] for r in rows[1:-1]] == [f"blocks.{i}.depthwise.0" for i in range(11, 16)]
    assert rows[-1].startswith("all") and rows[-1].endswith("x)")


def test_a_backbone_without_dilation_is_a_clear_error():
    proc = run("--output-stride", "32", "--size", "32", "--batch", "1", "--reps", "1")
    assert proc.returncode == 1 and "no dilated depthwise conv" in proc.stderr
