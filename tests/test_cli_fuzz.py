"""Property-based fuzz of the command line with corrupted inputs: videos cut short,
overwritten, spliced or replaced by garbage, and label PNGs of every wrong kind. Every case ends
with exit 0, or exit 1 and one line naming the file; never a traceback, never a changed file that
existed before, never a temp file left. Examples are bounded and derandomized (conftest's profile)."""
import hashlib
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from dff.cli import main
from dff.io.video_writer import VideoWriter, default_codec

FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(*folders: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for f in folders for p in f.rglob("*") if p.is_file()}


PROGRESS = re.compile(r"^[\w-]+: .*\[\d\d:\d\d")  # a tqdm bar: "infer: 3frame [00:00, 41.41frame/s]"


def assert_clean_outcome(rc: int, err: str, bad: Path, before: dict, *folders: Path) -> None:
    """Exit 0, or 1 with one error line naming the bad file; besides progress bars only one-line
    warnings, nothing from the decoders' C libraries; the files of before (a snapshot of folders)
    are unchanged; no temp file in the first folder, the one written in."""
    assert rc in (0, 1), err
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip() and not PROGRESS.match(line)]
    errors = [line for line in lines if line.startswith("dff ") and ": error: " in line]
    assert all(line.startswith("dff ") and ": warning: " in line for line in lines if line not in errors), err
    assert len(errors) == rc and all(bad.name in line for line in errors), err
    after = snapshot(*folders)
    assert {p: after.get(p) for p in before} == before
    assert not [p for p in folders[0].rglob(".*")], "temp files left"


@pytest.fixture(scope="module")
def clean_videos(tmp_path_factory) -> dict:
    """A 12-frame moving gradient as mp4v and, with PyAV, H.264."""
    folder = tmp_path_factory.mktemp("videos")
    y, x = np.mgrid[0:48, 0:64]
    videos = {}
    for codec in {"mp4v", default_codec()}:
        path = folder / f"{codec}.mp4"
        with VideoWriter(path, 10, (48, 64), codec=codec) as w:
            for i in range(12):
                w.write(np.stack([(x * 4 + 8 * i) % 256, y * 5, np.full_like(x, 20 * i)], -1).astype(np.uint8))
        videos[codec] = path.read_bytes()
    return videos


SPOT = st.floats(0, 1)
CORRUPTIONS = st.one_of(
    st.tuples(st.just("cut"), SPOT),
    st.tuples(st.just("overwrite"), SPOT, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("insert"), SPOT, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("garbage"), st.binary(max_size=2048)))


def corrupt(data: bytes, how: tuple) -> bytes:
    kind, *args = how
    if kind == "garbage":
        return args[0]
    at = int(args[0] * len(data))
    if kind == "cut":
        return data[:at]
    if kind == "overwrite":
        return data[:at] + args[1] + data[at + len(args[1]):]
    return data[:at] + args[1] + data[at:]


@FUZZ
@given(codec=st.sampled_from(["mp4v", "h264"]), how=CORRUPTIONS, truncated_ok=st.booleans())
def test_corrupted_videos_end_in_output_or_one_line(tiny_run, clean_videos, codec, how, truncated_ok, capfd):
    data = clean_videos.get(codec, clean_videos["mp4v"])
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        src = d / "clip.mp4"
        src.write_bytes(corrupt(data, how))
        (d / "earlier.mp4").write_bytes(data)  # an earlier output beside it
        before = snapshot(d, tiny_run)
        capfd.readouterr()
        rc = main(["infer", "--checkpoint", str(tiny_run / "best.pt"), "--input", str(src), "--output",
                   str(d / "out.mp4"), "--codec", "mp4v", "--device", "cpu", "--threads", "1"]
                  + ["--allow-truncated"] * truncated_ok)
        event(f"{how[0]}: exit {rc}")  # --hypothesis-show-statistics counts the outcomes
        assert_clean_outcome(rc, capfd.readouterr().err, src, before, d, tiny_run)
        assert (d / "out.mp4").exists() == (rc == 0)


def label_of_kind(kind: str, rng: np.random.Generator, size: tuple[int, int]):
    """A wrong label of the given kind, as bytes of the file (None: the file is removed)."""
    h, w = size
    if kind == "missing":
        return None
    if kind == "empty":
        return b""
    if kind == "garbage":
        return rng.bytes(int(rng.integers(1, 300)))
    arrays = {
        "other size": lambda: rng.integers(0, 3, (h + 3, w - 5), dtype=np.uint8),
        "rgb": lambda: rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "rgba": lambda: rng.integers(0, 256, (h, w, 4), dtype=np.uint8),
        "16-bit": lambda: rng.integers(0, 65536, (h, w)).astype(np.uint16),
        "values out of range": lambda: rng.integers(3, 255, (h, w), dtype=np.uint8),
        "float": lambda: rng.random((h, w), dtype=np.float32) * 3,
        "truncated": lambda: rng.integers(0, 3, (h, w), dtype=np.uint8)}
    arr = arrays[kind]()
    path = Path(tempfile.mkstemp(suffix=".tif" if kind == "float" else ".png")[1])
    try:
        Image.fromarray(arr).save(path)
        data = path.read_bytes()
    finally:
        path.unlink()
    return data[: len(data) // 2] if kind == "truncated" else data


LABEL_KINDS = ["missing", "empty", "garbage", "other size", "rgb", "rgba", "16-bit", "values out of range",
               "float", "truncated"]


@pytest.mark.parametrize("kind", LABEL_KINDS)
@settings(FUZZ, max_examples=2)
@given(split=st.sampled_from(["train", "val"]), frame=st.integers(0, 7), seed=st.integers(0, 2 ** 16),
       command=st.sampled_from(["check-data", "eval"]))
def test_wrong_labels_end_in_a_report_or_one_line(tiny_run, synthetic_root, kind, split, frame, seed, command, capfd):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "set"
        shutil.copytree(synthetic_root, root)
        label = sorted((root / split).iterdir())[0] / "labels" / f"{frame:05d}.png"
        data = label_of_kind(kind, np.random.default_rng(seed), Image.open(label).size[::-1])
        label.unlink() if data is None else label.write_bytes(data)
        before = snapshot(root, tiny_run)
        capfd.readouterr()
        args = ["eval", "--checkpoint", str(tiny_run / "best.pt"), "--motion-bins", "none"] \
            if command == "eval" else ["check-data", str(tiny_run / "config.yaml")]
        rc = main(args + [f"data.root={root}"])
        out, err = capfd.readouterr()
        if command == "check-data":  # a report of every problem on stdout, exit 1 when any
            assert rc in (0, 1) and not err, err
            assert kind == "missing" or (rc == 1 and str(label) in out), out
            assert snapshot(root, tiny_run) == before
        else:  # eval reads the val split alone: a wrong val label stops it
            assert_clean_outcome(rc, err, label, before, root, tiny_run)
            assert rc == (1 if split == "val" and kind != "missing" else 0), err


@pytest.fixture(scope="module")
def own_inputs(tiny_run, synthetic_root, tmp_path_factory) -> Path:
    """A copy of the tiny run and its data, and links to them, for commands aimed at their inputs."""
    home = tmp_path_factory.mktemp("inputs")
    shutil.copytree(synthetic_root, home / "set")
    shutil.copytree(tiny_run, home / "run")
    (home / "links").mkdir()
    return home


WRITERS = {  # command -> its arguments with the output at T (every one with --overwrite where it has one)
    "eval": ["eval", "--checkpoint", "K", "--motion-bins", "none", "--no-consistency", "--json", "T", "--overwrite"],
    "bench": ["bench", "--checkpoint", "K", "--size", "32x32", "--reps", "1", "--key-intervals", "2", "--json", "T",
              "--overwrite"],
    "infer": ["infer", "--checkpoint", "K", "--input", "FRAMES", "--output", "T", "--codec", "mp4v", "--overwrite"],
    "infer-labels": ["infer", "--checkpoint", "K", "--input", "FRAMES", "--output", "T", "--mode", "labels",
                     "--overwrite"],
    "export": ["export", "--checkpoint", "K", "--out", "T", "--overwrite"],
    "tradeoff": ["tradeoff", "--checkpoint", "K", "--sizes", "32", "--key-intervals", "1", "--flows", "zero",
                 "--out", "T", "--overwrite"],
    "train": ["train", "CONFIG", "--work-dir", "T", "--overwrite", "train.iters=1"],
}
READS_DATA = {"eval", "tradeoff", "train"}  # bench, export and infer may write beside the data they never read


@settings(FUZZ, max_examples=24)
@given(command=st.sampled_from(sorted(WRITERS)), target=st.sampled_from(
    ["label", "frame", "frames", "clip", "root", "checkpoint", "config", "in-frames", "in-root"]),
       via=st.sampled_from(["path", "link", "parent"]))
def test_an_output_aimed_at_an_input_is_refused_in_one_line_and_nothing_changes(own_inputs, command, target, via,
                                                                                  capfd):
    """Outputs onto inputs, the whole family: any writing command, any of its inputs (data files
    and folders, checkpoint, config) reached by its path, through a link or as the parent folder."""
    home = own_inputs
    clip = sorted((home / "set" / "val").iterdir())[0]
    where = {"label": clip / "labels" / "00000.png", "frame": clip / "frames" / "00001.png", "frames": clip / "frames",
             "clip": clip, "root": home / "set", "checkpoint": home / "run" / "best.pt",
             "config": home / "run" / "config.yaml", "in-frames": clip / "frames" / "new",
             "in-root": home / "set" / "new"}[target]
    if target.startswith("in-"):
        assume(command in READS_DATA or (command.startswith("infer") and target == "in-frames"))
    if via == "link":
        link = home / "links" / f"{command}-{target}"
        if not link.is_symlink():
            link.symlink_to(where)
        where = link / "new" if target.startswith("in-") else link
    elif via == "parent":
        where = where.parent
    args = [{"K": str(home / "run" / "best.pt"), "T": str(where), "FRAMES": str(clip / "frames"),
             "CONFIG": str(home / "run" / "config.yaml")}.get(a, a) for a in WRITERS[command]]
    before = snapshot(home / "set", home / "run")
    event(f"{command} onto {target} by {via}")
    capfd.readouterr()
    rc = main([*args, f"data.root={home / 'set'}", "--device", "cpu"])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not PROGRESS.match(line)]
    assert rc == 1 and len(lines) == 1 and ": error: " in lines[0] and "Traceback" not in err, err
    assert snapshot(home / "set", home / "run") == before
    assert not (where.name == "new" and where.exists()), f"{where} written"
