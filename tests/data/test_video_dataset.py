"""data.dataset=video: unlabeled footage (video files and frame folders) as clips, stores and pairs."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from torch.utils.data import DataLoader

from dff.cli import main
from dff.config import load_config
from dff.data.check import check_clips
from dff.data.datasets import build_clips, class_names, label_lut
from dff.data.layouts import decoded_frames
from dff.data.pairs import PairDataset
from dff.data.store import FrameStore
from dff.data.video import VideoReader
from dff.engine.builders import load_split
from layout_fixtures import frame_image

av = pytest.importorskip("av", reason="writing test videos needs PyAV (pip install 'dff[video]')")
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"
# natural name order: cam2.mp4, cam10.mp4, walk (frames 1..5 and 8..10: the gap splits it)
LENGTHS = {"cam2.mp4": 7, "cam10.mp4": 12, "walk@1": 5, "walk@8": 3}


def no_labels(path):
    raise AssertionError(f"{path}: unlabeled footage has no label to read")


def write_video(path: Path, n: int, h: int = 48, w: int = 64) -> Path:
    """n moving-gradient frames encoded as MPEG-4 by PyAV."""
    y, x = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = np.stack([(x * 4 + 9 * i) % 256, y * 5, np.full_like(x, 20 * i)], -1).astype(np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode())
    return path


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("footage")
    write_video(root / "cam10.mp4", 12)
    write_video(root / "cam2.mp4", 7)
    for n in [1, 2, 3, 4, 5, 8, 9, 10]:
        frame_image(root / "walk" / f"img_{n:03d}.png", n, size=(48, 64))
    (root / "README.txt").write_text("not footage")
    (root / "empty").mkdir()  # no frames: not a sequence
    write_video(root / ".hidden.mp4", 3)
    return root


def test_temporal_split_of_every_sequence(footage):
    train, val = (build_clips("video", footage, s, train_fraction=0.6) for s in ("train", "val"))
    assert [c.name for c in train] == [c.name for c in val] == list(LENGTHS)
    for t, v in zip(train, val):
        n = LENGTHS[t.name]
        assert (t.start, t.end, v.start, v.end) == (0, round(0.6 * n), round(0.6 * n), n)
        assert len(t.labels) == n and set(t.labels) == {None} and not t.labelled
        assert (t.video is not None) == t.name.endswith(".mp4") and len(t.frames) == (0 if t.video else n)
    assert [p.name for p in train[3].frames] == ["img_008.png", "img_009.png", "img_010.png"]


def test_store_holds_the_decoded_frames_of_the_split(footage):
    for split in ("train", "val"):
        clips = build_clips("video", footage, split)
        store = FrameStore(clips, 24, no_labels)
        for clip, frames, labels in zip(clips, store.frames, store.labels):
            assert sorted(frames) == list(range(clip.start, clip.end)) and labels == {}
            if clip.video is None:
                continue
            decoded = list(VideoReader(clip.video))
            assert len(decoded) == len(clip.labels)
            for i, f in frames.items():
                ref = cv2.resize(decoded[i], (32, 24), interpolation=cv2.INTER_AREA)
                assert f.shape == (3, 24, 32) and np.array_equal(f.permute(1, 2, 0).numpy(), ref)
    assert store.targets() == [(c, i) for c, clip in enumerate(clips) for i in range(clip.start, clip.end)]


def test_pairs_over_unlabeled_footage_have_ignore_labels(footage):
    store = FrameStore(build_clips("video", footage, "train"), 24, no_labels)
    ds = PairDataset(store, 3, crop_size=(16, 20), scale_range=(0.8, 1.2), ignore_index=7, seed=1)
    assert len(ds) == 4 + 7 + 3 + 2
    for idx, (c, t) in enumerate(ds.items):
        window, label, offset = ds[idx]
        assert 0 <= offset <= min(3, t - store.clips[c].start)
        assert window.shape == (4, 3, 16, 20) and label.shape == (16, 20) and (label == 7).all()
    windows, labels, offsets = next(iter(DataLoader(ds, batch_size=5)))
    assert windows.shape == (5, 4, 3, 16, 20) and labels.shape == (5, 16, 20) and offsets.shape == (5,)


def test_sequences_mode_splits_whole_sequences(footage, tmp_path):
    train, val = (build_clips("video", footage, s, "sequences", 0.6) for s in ("train", "val"))
    assert [(c.name, c.start, c.end) for c in train] == [("cam2.mp4", 0, 7), ("cam10.mp4", 0, 12)]
    assert [(c.name, c.start, c.end) for c in val] == [("walk@1", 0, 5), ("walk@8", 0, 3)]
    one = write_video(tmp_path / "one.mp4", 4)  # a video file as the root is one sequence
    assert [(c.name, c.end) for c in build_clips("video", one, "train", "sequences")] == [("one.mp4", 4)]
    with pytest.raises(ValueError, match=r"one.mp4: split_mode=sequences leaves split 'val' none of its 1 "):
        build_clips("video", one, "val", "sequences")


def test_empty_root_is_a_one_line_error(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError) as e:
        build_clips("video", tmp_path, "train")
    assert str(e.value).startswith(f"{tmp_path}: no videos (.mp4, .avi, .mov, .mkv, .webm") and "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="nowhere: no such folder"):
        build_clips("video", tmp_path / "nowhere", "train")


def test_frame_count_is_decoded_and_follows_the_file(tmp_path):
    path = write_video(tmp_path / "v.mp4", 12)
    assert decoded_frames(path) == 12
    write_video(path, 5)  # a new version of the file is counted again
    assert decoded_frames(path) == 5


def test_classes_config_and_check_data(footage, tmp_path, capsys):
    assert class_names("video", footage, 3) == ["class0", "class1", "class2"]
    with pytest.raises(ValueError, match="dataset video needs data.num_classes"):
        class_names("video", footage)
    res = check_clips(build_clips("video", footage, "val"), label_lut("video", 3))
    assert (res["frames"], res["labels"], res["problems"]) == (3 + 5 + 2 + 1, 0, [])
    assert res["clips"] == [("cam2.mp4", 3), ("cam10.mp4", 5), ("walk@1", 2), ("walk@8", 1)]
    keys = ["data.dataset=video", f"data.root={footage}", "data.num_classes=3", "data.short_side=24"]
    store = load_split(load_config(None, keys + ["data.train_fraction=0.5"]), "val")
    assert [len(f) for f in store.frames] == [3, 6, 3, 1]  # round() halves to even: 7 -> 4, 5 -> 2
    (tmp_path / "c.yaml").write_text("data:\n  dataset: video\n")
    assert main(["check-data", str(tmp_path / "c.yaml"), *keys[1:]]) == 0
    assert "train: 16 frames, 0 labels" in capsys.readouterr().out


@pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL}: the shared sample videos are absent")
def test_real_videos_count_decoded_frames():
    clips = build_clips("video", REAL, "val")
    assert [(c.name, c.end) for c in clips] == [("driving-960x540.mp4", 221), ("pedestrians-1280x720.avi", 341)]
    store = FrameStore(clips, 96, no_labels)
    assert [len(f) for f in store.frames] == [221 - 133, 341 - 205]
    assert {tuple(f.shape) for frames in store.frames for f in frames.values()} == {(3, 96, 171)}
