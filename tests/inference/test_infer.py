import os
import shutil
import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import SHARED
from dff.data.palettes import camvid_palette
from dff.data.video import VideoReader
from dff.io.video_writer import VideoWriter
from dff.config import load_config
from dff.inference.options import InferOptions
from dff.inference.tuning import split_cores
from dff.inference.video import build_segmenter, infer_video, run_video


@pytest.fixture()
def clip_mp4(tmp_path, synthetic_root):
    """A 9-frame mp4 of 50x70 (not the network size) made from synthetic frames."""
    frames = sorted((synthetic_root / "val").glob("*/frames/*.png"))
    path = tmp_path / "in.mp4"
    with VideoWriter(path, fps=12.0, size=(50, 70)) as w:
        for f in (frames + frames)[:9]:
            img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
            w.write(cv2.resize(img, (70, 50)))
    return path


def test_video_in_overlay_out_with_same_size_fps_and_count(tiny_run, tiny_cfg, clip_mp4, tmp_path):
    out = tmp_path / "out" / "seg.mp4"
    res = infer_video(tiny_cfg, tiny_run / "best.pt", clip_mp4, out, InferOptions(key_interval=4, progress=False))
    assert res["frames_decoded"] == res["frames_written"] == 9
    reader = VideoReader(out)
    frames = list(reader)
    assert len(frames) == 9 and reader.size == (50, 70)
    assert reader.fps == pytest.approx(12.0, abs=0.01)
    assert res["fps_processed"] > 0


def test_frame_folder_input_and_no_silent_overwrite(tiny_run, tiny_cfg, synthetic_root, tmp_path):
    folder = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    out = tmp_path / "seg.mp4"
    res = infer_video(tiny_cfg, tiny_run / "best.pt", folder, out, InferOptions(progress=False))
    assert res["frames_written"] == 8 and res["size"] == [48, 64]
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="seg.mp4"):
        infer_video(tiny_cfg, tiny_run / "best.pt", folder, out, InferOptions(progress=False))
    assert out.read_bytes() == before
    infer_video(tiny_cfg, tiny_run / "best.pt", folder, out, InferOptions(overwrite=True, progress=False))


def test_show_flow_puts_the_flow_beside_the_overlay(tiny_run, tiny_cfg, synthetic_root, tmp_path):
    folder = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    res = infer_video(tiny_cfg, tiny_run / "best.pt", folder, tmp_path / "f.mp4",
                      InferOptions(key_interval=3, show_flow=True, progress=False))
    frames = list(VideoReader(tmp_path / "f.mp4"))
    assert len(frames) == res["frames_written"] == 8 and frames[0].shape == (48, 128, 3)
    assert frames[0][:, 64:].min() > 200  # key frame: zero flow draws white


def test_overlay_colours_follow_the_prediction():
    from dff.data.palettes import overlay, voc_palette

    frame = np.full((2, 2, 3), 100, np.uint8)
    labels = np.array([[0, 1], [2, 0]])
    out = overlay(frame, labels, voc_palette(), alpha=0.5)
    assert (out[0, 0] == 100).all() and (out[1, 1] == 100).all()  # background untouched
    assert out[0, 1].tolist() == [114, 50, 50]  # (100 + 128) / 2, 100 / 2, 100 / 2


@pytest.mark.skipif(not (SHARED / "videos").is_dir(), reason="../shared/data/videos not present")
def test_real_video_frames_written_equal_frames_decoded(tiny_run, tiny_cfg, tmp_path):
    # The whole clip at the tiny model's 48 px short side; output keeps 960x540.
    res = infer_video(tiny_cfg, tiny_run / "best.pt", SHARED / "videos" / "driving-960x540.mp4", tmp_path / "drive.mp4",
                      InferOptions(key_interval=10, progress=False))
    assert res["frames_decoded"] == res["frames_written"] == 221
    assert res["size"] == [540, 960]


@pytest.fixture()
def folder(synthetic_root):
    """The first val sequence: 8 frames of 48x64."""
    return sorted((synthetic_root / "val").iterdir())[0] / "frames"


def read_labels(folder) -> list[np.ndarray]:
    """Class ids of every label PNG in a folder, in name order."""
    return [np.array(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def test_side_by_side_puts_the_colour_mask_right_of_the_frame(tiny_run, tiny_cfg, folder, tmp_path):
    res = infer_video(tiny_cfg, tiny_run / "best.pt", folder, tmp_path / "sbs.mp4",
                      InferOptions(mode="side-by-side", progress=False))
    frames = list(VideoReader(tmp_path / "sbs.mp4"))
    assert len(frames) == res["frames_written"] == 8 and frames[0].shape == (48, 128, 3)
    inputs = list(VideoReader(folder))
    left = max(np.abs(f[:, :64].astype(int) - x).mean() for f, x in zip(frames, inputs))
    right = min(np.abs(f[:, 64:].astype(int) - x).mean() for f, x in zip(frames, inputs))
    assert left < 12 and right > 3 * left, (left, right)  # lossy coding, but the frame is on the left


def test_labels_are_palette_pngs_and_the_colour_video_draws_them(tiny_run, tiny_cfg, folder, tmp_path):
    ckpt, labels_dir = tiny_run / "best.pt", tmp_path / "labels"
    res = infer_video(tiny_cfg, ckpt, folder, labels_dir, InferOptions(mode="labels", palette="camvid", progress=False))
    assert res["frames_written"] == 8 and res["palette"] == "camvid"
    assert sorted(p.name for p in labels_dir.iterdir()) == [".dff-output"] + [f"{i:05d}.png" for i in range(8)]
    with Image.open(labels_dir / "00000.png") as im:
        assert im.mode == "P" and im.size == (64, 48)
        assert im.getpalette()[:33] == camvid_palette().reshape(-1).tolist()
    ids = read_labels(labels_dir)
    assert max(int(i.max()) for i in ids) < 3
    infer_video(tiny_cfg, ckpt, folder, tmp_path / "c.mp4",
                InferOptions(mode="colour", palette="camvid", progress=False))
    pal = camvid_palette()[:3].astype(int)
    for frame, lab in zip(VideoReader(tmp_path / "c.mp4"), ids):  # nearest class colour, despite lossy coding
        nearest = np.abs(frame[:, :, None].astype(int) - pal).sum(-1).argmin(-1)
        assert (nearest == lab).mean() > 0.9


def test_label_folders_are_not_replaced_unasked(tiny_run, tiny_cfg, folder, tmp_path):
    ckpt, out = tiny_run / "best.pt", tmp_path / "labels"
    infer_video(tiny_cfg, ckpt, folder, out, InferOptions(mode="labels", progress=False))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FileExistsError, match="labels: already holds 8 entries; pass overwrite"):
        infer_video(tiny_cfg, ckpt, folder, out, InferOptions(mode="labels", progress=False))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "00000.png").unlink()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="more than label PNGs \\(notes.txt\\)"):
        infer_video(tiny_cfg, ckpt, folder, out, InferOptions(mode="labels", overwrite=True, progress=False))
    (out / "notes.txt").unlink()
    infer_video(tiny_cfg, ckpt, folder, out, InferOptions(mode="labels", overwrite=True, progress=False))
    assert len(list(out.glob("*.png"))) == 8 and sorted(p.name for p in tmp_path.iterdir()) == ["labels"]
    (out / ".dff-output").unlink()  # PNGs dff did not write: --overwrite leaves them
    with pytest.raises(FileExistsError, match="PNGs dff did not write"):
        infer_video(tiny_cfg, ckpt, folder, out, InferOptions(mode="labels", overwrite=True, progress=False))


def test_an_input_is_never_an_output(tiny_run, tiny_cfg, synthetic_root, tmp_path, capsys):
    """--output equal to the --input frame folder (PNG frames) or video
    replaced the input; now refused, --overwrite or not, and the input is unchanged."""
    from dff.cli import main

    frames = tmp_path / "frames"
    shutil.copytree(sorted((synthetic_root / "val").iterdir())[0] / "frames", frames)
    before = {p.name: p.read_bytes() for p in frames.iterdir()}
    cfg, ckpt = str(tiny_run / "config.yaml"), str(tiny_run / "best.pt")
    for out in (frames, frames / "labels"):
        assert main(["infer", cfg, "--checkpoint", ckpt, "--input", str(frames), "--output", str(out),
                     "--mode", "labels", "--overwrite"]) == 1
        assert "dff never writes onto its inputs" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in frames.iterdir()} == before
    video = tmp_path / "in.mp4"
    infer_video(tiny_cfg, ckpt, frames, video, InferOptions(progress=False))
    data = video.read_bytes()
    for out in (video, tiny_run / "best.pt"):
        assert main(["infer", cfg, "--checkpoint", ckpt, "--input", str(video), "--output", str(out),
                     "--overwrite"]) == 1
    assert video.read_bytes() == data


def test_bad_mode_and_flow_without_video_are_refused(tiny_run, tiny_cfg, folder, tmp_path):
    with pytest.raises(ValueError, match="mode must be one of"):
        infer_video(tiny_cfg, tiny_run / "best.pt", folder, tmp_path / "x", InferOptions(mode="heatmap"))
    with pytest.raises(ValueError, match="show_flow"):
        infer_video(tiny_cfg, tiny_run / "best.pt", folder, tmp_path / "x", InferOptions(mode="labels", show_flow=True))
    assert list(tmp_path.iterdir()) == []


def test_infer_reports_key_network_runs(tiny_run, tiny_cfg, synthetic_root, tmp_path):
    folder = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    res = infer_video(tiny_cfg, tiny_run / "best.pt", folder, tmp_path / "p.mp4",
                      InferOptions(key_interval=3, progress=False))
    # 8 frames: the key network runs on 0, 3, 6
    assert res["frames_written"] == 8 and (res["key_frames"], res["key_runs"]) == (3, 3)


def test_pretrained_configs_need_no_checkpoint(torchvision_cache, segformer_folder, synthetic_root, tmp_path, capsys,
                                               request):
    """configs/pretrained/: a pretrained key network with DIS flow segments a video untrained."""
    from pathlib import Path

    from dff.cli import main

    configs = Path(__file__).resolve().parents[2] / "configs" / "pretrained"
    folder = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    assert main(["infer", str(configs / "lraspp_mobilenet_v3_large.yaml"), "--input", str(folder),
                 "--output", str(tmp_path / "tv"), "--mode", "labels", "data.short_side=64"]) == 0
    assert "voc palette" in capsys.readouterr().out and len(list((tmp_path / "tv").glob("*.png"))) == 8
    segformer = load_config(configs / "segformer_b0_cityscapes.yaml",
                            [f"model.key_network=hf:{segformer_folder[0]}", "data.short_side=32"])
    res = infer_video(segformer, None, folder, tmp_path / "sf.mp4", InferOptions(progress=False))
    assert res["palette"] == "cityscapes" and res["frames_written"] == 8 and res["key_frames"] == 2
    bare = load_config(configs / "lraspp_mobilenet_v3_large.yaml", ["model.pretrained=null"])
    with pytest.raises(ValueError, match="no checkpoint given, and the config names no complete pretrained model"):
        infer_video(bare, None, folder, tmp_path / "x.mp4", InferOptions(progress=False))
    request.getfixturevalue("no_network")  # and downloads fail
    capsys.readouterr()
    assert main(["infer", str(configs / "fcn_resnet50.yaml"), "--input", str(folder), "--output", str(tmp_path / "y.mp4")]) == 1
    err = capsys.readouterr().err  # not in the cache: one line naming the file and the folder
    assert len(err.strip().splitlines()) == 1 and "fcn_resnet50_coco-" in err and str(tmp_path / "torch") in err


def test_odd_sized_frames_are_segmented_into_a_padded_video(tiny_run, synthetic_root, tmp_path):
    """853 x 480 phone video was refused for its odd width; now written padded."""
    from dff.cli import main
    from dff.data.video import read_image
    from dff.data.video import VideoReader

    folder = tmp_path / "odd"
    folder.mkdir()
    for i, f in enumerate(sorted(sorted((synthetic_root / "val").iterdir())[0].glob("frames/*.png"))[:4]):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(read_image(f)[:47, :63], cv2.COLOR_RGB2BGR))
    out = tmp_path / "odd.mp4"
    assert main(["infer", "--checkpoint", str(tiny_run / "best.pt"), "--device", "cpu", "--input", str(folder),
                 "--output", str(out), "--codec", "mp4v"]) == 0
    back = list(VideoReader(out))
    assert len(back) == 4 and back[0].shape == (48, 64, 3)


@pytest.mark.skipif(split_cores() is None, reason="needs per-thread CPU affinity (Linux) and two CPUs")
def test_one_model_thread_gives_the_key_network_a_cpu_of_its_own(tiny_run, tiny_cfg, clip_mp4, tmp_path, monkeypatch):
    """threads=1: the key network's thread runs alone on one CPU, propagation, decoding and encoding
    (OpenCV at one thread) on the others; the labels are those without it; the process's CPUs
    and OpenCV's threads are as before afterwards."""
    from dff.inference import tuning

    seg = build_segmenter(tiny_cfg, tiny_run / "best.pt", InferOptions(device="cpu", key_interval=4))
    key_cpus, rest = split_cores()
    cpus, cv_threads, seen = os.sched_getaffinity(0), cv2.getNumThreads(), {"key": [], "step": []}
    key, step = seg._key, seg.runner.step
    seg._key = lambda x: (seen["key"].append((threading.current_thread().name, os.sched_getaffinity(0))), key(x))[1]
    seg.runner.step = lambda *a: (seen["step"].append((os.sched_getaffinity(0), cv2.getNumThreads())), step(*a))[1]
    res = run_video(seg, str(clip_mp4), str(tmp_path / "pinned"),
                    InferOptions(mode="labels", threads=1, progress=False))
    assert res["frames_written"] == 9 and res["key_frames"] == 3
    assert seen["key"] == [("dff-key_0", key_cpus)] * 3 and seen["step"] == [(rest, 1)] * 9
    assert os.sched_getaffinity(0) == cpus and cv2.getNumThreads() == cv_threads
    monkeypatch.setattr(tuning, "split_cores", lambda: None)
    seen["key"].clear()
    run_video(seg, str(clip_mp4), str(tmp_path / "free"), InferOptions(mode="labels", threads=1, progress=False))
    assert [c for _, c in seen["key"]] == [cpus] * 3
    pngs = sorted((tmp_path / "pinned").glob("*.png"))
    assert len(pngs) == 9
    assert all(np.array_equal(np.array(Image.open(p)), np.array(Image.open(tmp_path / "free" / p.name))) for p in pngs)
