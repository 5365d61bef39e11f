import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_results_table_throughput_follows_key_rate_and_module_times(tmp_path):
    ev = {"key_interval": 5, "per_frame_miou": 0.8, "mean_miou": 0.76,
          "stream_fixed": {"miou": 0.75, "key_rate": 0.25, "key_frames": 2, "frames": 8},
          "stream_adaptive": {"miou": 0.78, "key_rate": 0.25, "key_frames": 2, "frames": 8}}
    bench = {"key_seconds": 1.0, "propagate_seconds": 0.2, "module_seconds": {"flow": 0.1}}
    (tmp_path / "e.json").write_text(json.dumps(ev))
    (tmp_path / "b.json").write_text(json.dumps(bench))
    (tmp_path / "s.json").write_text(json.dumps({**bench, "stream_key_seconds": 2.0, "stream_propagate_seconds": 1.0}))
    spec = f"{tmp_path}/e.json:{tmp_path}/b.json"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_table.py"),
                          f"pf={spec}:per_frame", f"k5={spec}:mean", f"fx={spec}:fixed", f"ad={spec}:adaptive",
                          f"st={tmp_path}/e.json:{tmp_path}/s.json:mean"],
                         capture_output=True, text=True, check=True).stdout
    rows = {l.split("|")[1].strip(): [c.strip() for c in l.split("|")[2:6]] for l in out.splitlines()[2:]}
    assert rows["pf"] == ["0.8000", "100.0%", "1.00x", "-"]
    assert rows["k5"] == ["0.7600", "95.0%", f"{1 / (0.2 + 0.8 * 0.2):.2f}x", "-"]
    assert rows["fx"][2] == f"{1 / (0.25 + 0.75 * 0.2):.2f}x"
    assert rows["ad"][2] == f"{1 / (0.25 * 1.1 + 0.75 * 0.2):.2f}x"
    assert rows["st"][3] == f"{2 / (0.2 * 2 + 0.8 * 1):.2f}x"  # from the streamed step times
