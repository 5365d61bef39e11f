"""dff.io.video_writer: atomic, verified video outputs in H.264 or mp4v."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from dff.data.video import VideoError, VideoReader
from dff.io.video_writer import VideoWriter, default_codec
from video_fixtures import H, W, count_frames, gradient, write_mp4


def test_h264_is_browser_playable(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    assert default_codec() == "h264"
    path = write_mp4(tmp_path / "web.mp4", 20, fps=12.5)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (s.height, s.width, s.average_rate) == (H, W, 12.5)
        assert sum(1 for p in c.demux(s) if p.size) == 20
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: plays while it downloads
    assert count_frames(path) == 20
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's owner-only 0600


def test_h264_without_pyav_is_refused_clearly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail as if not installed
    assert default_codec() == "mp4v"
    with pytest.raises(VideoError, match=r"needs PyAV: pip install 'dff\[video\]'"):
        VideoWriter(tmp_path / "x.mp4", 10, (H, W), codec="h264")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="codec must be one of"):
        VideoWriter(tmp_path / "x.mp4", 10, (H, W), codec="vp9")


def test_x264_presets(tmp_path: Path) -> None:
    """--preset: ultrafast by default (the fastest); a slower one writes the same frames, smaller."""
    pytest.importorskip("av")
    small = write_mp4(tmp_path / "veryfast.mp4", 12, preset="veryfast")
    fast = write_mp4(tmp_path / "default.mp4", 12)
    assert count_frames(small) == count_frames(fast) == 12
    assert small.stat().st_size < fast.stat().st_size
    for kind, preset in (("mp4v", "veryfast"), ("h264", "quick")):
        with pytest.raises(ValueError, match=f"preset '{preset}' is not an x264 preset for codec h264 .codec {kind}.; "
                                             "valid: ultrafast, superfast, veryfast"):
            VideoWriter(tmp_path / "x.mp4", 10, (H, W), codec=kind, preset=preset)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.mp4", "veryfast.mp4"]


def test_writer_refuses_overwrite(tmp_path: Path, codec: str) -> None:
    path = write_mp4(tmp_path / "out.mp4", 3, codec=codec)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        VideoWriter(path, 10, (H, W), codec=codec)
    assert path.read_bytes() == before
    with VideoWriter(path, 10, (H, W), overwrite=True, codec=codec) as w:
        for i in range(5):
            w.write(gradient(i))
    assert count_frames(path) == w.frames_written == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_odd_sizes_are_written_padded_to_even(tmp_path: Path, codec: str) -> None:
    """853 x 480 phone video was refused; now padded by a repeated column or row."""
    frames = [gradient(i)[:47, :63] for i in range(4)]
    with VideoWriter(tmp_path / "odd.mp4", 10, (47, 63), codec=codec) as w:
        for f in frames:
            w.write(np.ascontiguousarray(f))
    assert w.coded_size == (48, 64)
    back = list(VideoReader(tmp_path / "odd.mp4"))
    assert len(back) == 4 and back[0].shape == (48, 64, 3)
    err = np.abs(back[2][:47, :63].astype(int) - frames[2].astype(int)).mean()
    assert err < 6, err  # lossy, but the same picture, cropped back
    assert np.abs(back[2][47, :63].astype(int) - frames[2][46].astype(int)).mean() < 12  # the repeated row


def test_writer_bad_frames(tmp_path: Path, codec: str) -> None:
    w = VideoWriter(tmp_path / "x.mp4", 10, (H, W), codec=codec)
    with pytest.raises(ValueError, match=r"\(48, 32, 3\).*\(48, 64, 3\)"):
        w.write(np.zeros((H, W // 2, 3), np.uint8))
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_writer_exception_leaves_nothing(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 10, (H, W), codec=codec) as w:
            w.write(gradient(0))
            assert any(p.name.startswith(".crash.mp4.tmp-") for p in tmp_path.iterdir())
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_exception_keeps_existing(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "keep.mp4", 4)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 10, (H, W), overwrite=True) as w:
            w.write(gradient(0))
            raise RuntimeError("boom")
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_a_video_output_named_as_another_kind_of_file_is_refused_before_writing(tmp_path: Path) -> None:
    label = tmp_path / "00000.png"
    label.write_bytes(b"a label of the dataset")
    for path in (label, tmp_path / "eval.json"):
        with pytest.raises(ValueError, match=rf"{path.name}: {path.suffix} is not a video file name; give one of .mp4"):
            VideoWriter(path, 10, (H, W), overwrite=True, codec="mp4v")
    assert label.read_bytes() == b"a label of the dataset" and sorted(tmp_path.iterdir()) == [label]
