"""Batch inference: one output per input, a rerun resumes, a failing video is
recorded and skipped, and two torchrun processes (gloo) share the list with one merged manifest."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dff.cli import main
from dff.data.video import read_image
from dff.io.video_writer import VideoWriter
from dff.inference.many import output_names


@pytest.fixture()
def video_list(synthetic_root, tmp_path):
    """Three short videos (two share a name) and a file that is no video, in a list file."""
    frames = sorted(sorted((synthetic_root / "val").iterdir())[0].glob("frames/*.png"))
    paths = [tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", tmp_path / "walk.mp4"]
    for n, path in enumerate(paths):
        with VideoWriter(path, 10, (48, 64), codec="mp4v") as w:
            for f in frames[: 4 + n]:
                w.write(np.ascontiguousarray(read_image(f)))
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    listing = tmp_path / "list.txt"
    listing.write_text("# my footage\n" + "\n".join(str(p) for p in [*paths, broken]) + "\n\n")
    return listing, [*paths, broken]


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_output_names_are_unique_and_stable(tmp_path):
    names = output_names(["a/clip.mp4", "b/clip.mp4", "walk.avi", "frames/"], tmp_path, "overlay")
    assert [n.name for n in names] == ["clip-0.mp4", "clip-1.mp4", "walk.mp4", "frames.mp4"]
    assert output_names(["walk.avi"], tmp_path, "labels")[0] == tmp_path / "walk"


def test_no_output_is_named_as_the_manifest_or_another_output(tmp_path):
    inputs = ["manifest.jsonl.mp4", "x/clip.mp4", "y/clip.avi", "clip-1.mp4", ".manifest.jsonl.rank0.mp4", "CLIP-1.mkv"]
    for mode in ("labels", "overlay"):
        names = [n.name for n in output_names(inputs, tmp_path, mode)]
        assert len({n.lower() for n in names}) == len(names) and "manifest.jsonl" not in names
        assert not any(n.startswith(".") for n in names)
    assert [n.name for n in output_names(inputs, tmp_path, "labels")] == [
        "manifest.jsonl-0", "clip-1", "clip-2", "clip-1-3", "manifest.jsonl.rank0", "CLIP-1-5"]


def test_a_list_naming_the_output_folder_or_its_manifest_is_refused_leaving_nothing(tiny_run, video_list, tmp_path,
                                                                                    capsys):
    listing, inputs = video_list
    out = tmp_path / "out"
    cmd = ["infer", "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu", "--input-list", str(listing),
           "--output-dir", str(out), "--mode", "labels"]
    assert main(cmd) == 1  # the broken video fails; the outputs and the manifest are there
    capsys.readouterr()
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    for named in (out, out / "manifest.jsonl", out / "walk", tmp_path):
        listing.write_text(f"{inputs[0]}\n{named}\n")
        assert main(cmd) == 1
        err = capsys.readouterr().err.strip()
        assert f"listed in {listing}" in err and "dff never writes onto its inputs" in err and "\n" not in err
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # no part file, nothing new


def test_a_list_with_an_input_named_as_the_manifest_writes_every_output(tiny_run, video_list, tmp_path, capsys):
    listing, inputs = video_list
    named = tmp_path / "manifest.jsonl.mp4"
    named.write_bytes(inputs[2].read_bytes())
    listing.write_text(f"{named}\n{inputs[2]}\n")
    out = tmp_path / "out"
    assert main(["infer", "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu", "--input-list", str(listing),
                 "--output-dir", str(out), "--mode", "labels"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl", "manifest.jsonl-0", "walk"]
    assert [r["status"] for r in _manifest(out)] == ["done", "done"]
    assert len(list((out / "manifest.jsonl-0").glob("*.png"))) == len(list((out / "walk").glob("*.png"))) == 6


def test_a_list_is_segmented_failures_recorded_and_a_rerun_resumes(tiny_run, video_list, tmp_path, capsys):
    listing, inputs = video_list
    out = tmp_path / "out"
    cmd = ["infer", "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu", "--input-list", str(listing),
           "--output-dir", str(out), "--mode", "colour", "--codec", "mp4v"]
    assert main(cmd) == 1  # one video failed
    assert "4 videos: 3 segmented (0 by an earlier run), 0 already there, 1 failed" in capsys.readouterr().out
    records = _manifest(out)
    assert [r["input"] for r in records] == [str(p) for p in inputs]
    assert [r["status"] for r in records] == ["done", "done", "done", "failed"]
    assert [r["frames"] for r in records[:3]] == [4, 5, 6] and all(r["fps"] > 0 for r in records[:3])
    assert [r["key_frames"] for r in records[:3]] == [2, 2, 2]  # k = 3
    assert "broken.mp4" in records[3]["error"] and not (out / "broken.mp4").exists()
    assert sorted(p.name for p in out.iterdir()) == ["clip-0.mp4", "clip-1.mp4", "manifest.jsonl", "walk.mp4"]
    before = (out / "walk.mp4").stat().st_mtime_ns
    assert main(cmd) == 1
    assert "4 videos: 3 segmented (3 by an earlier run), 0 already there, 1 failed" in capsys.readouterr().out
    assert [{**r, "earlier": None} for r in _manifest(out)[:3]] == [{**r, "earlier": None} for r in records[:3]]
    assert (out / "walk.mp4").stat().st_mtime_ns == before
    (out / "manifest.jsonl").unlink()
    assert main(cmd) == 1
    assert "3 already there" in capsys.readouterr().out
    assert main(cmd[:-6] + ["--input", str(inputs[0]), "--output-dir", str(out)]) == 1
    assert "give --input and --output, or --input-list and --output-dir" in capsys.readouterr().err


def test_two_torchrun_processes_share_the_list(tiny_run, video_list, tmp_path):
    listing, inputs = video_list
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "dff",
           "infer", "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu", "--input-list", str(listing),
           "--output-dir", str(out), "--mode", "labels"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())})
    assert "4 videos: 3 segmented (0 by an earlier run), 0 already there, 1 failed" in proc.stdout, proc.stderr[-3000:]
    records = _manifest(out)
    assert [r["rank"] for r in records] == [0, 1, 0, 1] and [r["status"] for r in records] == [
        "done", "done", "done", "failed"]
    assert [len(list((out / n).glob("*.png"))) for n in ("clip-0", "clip-1", "walk")] == [4, 5, 6]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the part files merged and removed
