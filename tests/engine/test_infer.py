import cv2
import numpy as np
import pytest

from dff.data.video import VideoReader, VideoWriter
from dff.engine.infer import infer_video

from conftest import SHARED


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
    res = infer_video(tiny_cfg, tiny_run / "best.pt", clip_mp4, out, key_interval=4, progress=False)
    assert res["frames_decoded"] == res["frames_written"] == 9
    reader = VideoReader(out)
    frames = list(reader)
    assert len(frames) == 9 and reader.size == (50, 70)
    assert reader.fps == pytest.approx(12.0, abs=0.01)
    assert res["fps_processed"] > 0


def test_frame_folder_input_and_no_silent_overwrite(tiny_run, tiny_cfg, synthetic_root, tmp_path):
    folder = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    out = tmp_path / "seg.mp4"
    res = infer_video(tiny_cfg, tiny_run / "best.pt", folder, out, progress=False)
    assert res["frames_written"] == 8 and res["size"] == [48, 64]
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="seg.mp4"):
        infer_video(tiny_cfg, tiny_run / "best.pt", folder, out, progress=False)
    assert out.read_bytes() == before
    infer_video(tiny_cfg, tiny_run / "best.pt", folder, out, overwrite=True, progress=False)


def test_show_flow_puts_the_flow_beside_the_overlay(tiny_run, tiny_cfg, synthetic_root, tmp_path):
    folder = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    res = infer_video(tiny_cfg, tiny_run / "best.pt", folder, tmp_path / "f.mp4", key_interval=3,
                      show_flow=True, progress=False)
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
    res = infer_video(tiny_cfg, tiny_run / "best.pt", SHARED / "videos" / "driving-960x540.mp4",
                      tmp_path / "drive.mp4", key_interval=10, progress=False)
    assert res["frames_decoded"] == res["frames_written"] == 221
    assert res["size"] == [540, 960]
