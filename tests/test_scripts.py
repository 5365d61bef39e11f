import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_results_table_throughput_follows_key_rate_and_module_times(tmp_path):
    ev = {"key_interval": 5, "per_frame_miou": 0.8, "mean_miou": 0.76,
          "stream_fixed": {"miou": 0.75, "key_rate": 0.25, "key_frames": 2, "frames": 8},
          "stream_adaptive": {"miou": 0.78, "key_rate": 0.25, "key_frames": 2, "frames": 8}}
    bench = {"key_seconds": 1.0, "propagate_seconds": 0.2, "module_seconds": {"flow": 0.1}}
    (tmp_path / "e.json").write_text(json.dumps(ev))
    (tmp_path / "b.json").write_text(json.dumps(bench))
    spec = f"{tmp_path}/e.json:{tmp_path}/b.json"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_table.py"),
                          f"pf={spec}:per_frame", f"k5={spec}:mean", f"fx={spec}:fixed", f"ad={spec}:adaptive"],
                         capture_output=True, text=True, check=True).stdout
    rows = {l.split("|")[1].strip(): l.split("|")[2:5] for l in out.splitlines()[2:]}
    assert [c.strip() for c in rows["pf"]] == ["0.8000", "100.0%", "1.00x"]
    assert [c.strip() for c in rows["k5"]] == ["0.7600", "95.0%", f"{1 / (0.2 + 0.8 * 0.2):.2f}x"]
    assert rows["fx"][2].strip() == f"{1 / (0.25 + 0.75 * 0.2):.2f}x"
    assert rows["ad"][2].strip() == f"{1 / (0.25 * 1.1 + 0.75 * 0.2):.2f}x"


def test_flow_vs_truth_reports_errors_against_the_ground_truth(tiny_run):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "flow_vs_truth.py"), str(tiny_run / "config.yaml"),
                          str(tiny_run / "best.pt"), "--pairs", "3:2,5:2"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    lines = [l for l in out.splitlines() if l.startswith("current")]
    assert len(lines) == 2 and "current 5 key 2" in lines[1]
    assert "learned EPE" in lines[0] and "dis EPE" in lines[0] and "truth" in lines[0]
