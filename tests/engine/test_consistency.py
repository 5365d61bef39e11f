import numpy as np
import pytest
import torch

from dff.engine.consistency import ConsistencyMeter, FlowWarps


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (H, W) in [0, 1] that DIS can track."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((1, 1, h // 8, w // 8), dtype=np.float32))
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0, 0].clamp(0, 1).numpy()


def run(preds, labels=None, frames=None, windows=(8, 16), num_classes=3):
    meter = ConsistencyMeter(num_classes, 255, windows, FlowWarps() if frames is not None else None)
    meter.start_clip(0)
    for t, p in enumerate(preds):
        meter.add(t, p, None if labels is None else labels[t], None if frames is None else frames[t])
    return meter.result()


def test_a_static_clip_is_fully_consistent():
    frame = torch.from_numpy(texture(48, 64)).expand(3, -1, -1)
    pred = torch.zeros(48, 64, dtype=torch.long)
    pred[10:30, 20:50] = 2
    res = run([pred] * 20, [pred.to(torch.uint8)] * 20, [frame] * 20)
    assert res["vc_8"] == 1.0 and res["vc_16"] == 1.0 and res["tc"] == 1.0
    assert res["vc_8_windows"] == 13 and res["vc_16_windows"] == 5 and res["tc_pairs"] == 19


def test_predictions_alternating_every_frame_score_zero():
    labels = [torch.ones(16, 16, dtype=torch.uint8)] * 10
    preds = [torch.full((16, 16), t % 2) for t in range(10)]
    frame = torch.from_numpy(texture(16, 16)).expand(3, -1, -1)
    res = run(preds, labels, [frame] * 10, windows=(8,))
    assert res["vc_8"] == 0.0 and res["vc_8_windows"] == 3
    assert res["tc"] == 0.0  # every pixel's class flips between the frames


def test_vc_is_the_share_of_constant_labels_kept_constant_with_windows_counted_by_hand():
    labels = [torch.zeros(10, 10, dtype=torch.uint8) for _ in range(9)]
    labels[4][0, :] = 1  # row 0 changes label in frame 4: not in A of the windows holding frame 4
    labels[0][9, :] = 255  # ignored pixels are never in A
    preds = [torch.zeros(10, 10, dtype=torch.long) for _ in range(9)]
    preds[6][5, :5] = 1  # 5 pixels change prediction in frame 6
    res = run(preds, labels, windows=(8,))
    # windows 0..7 and 1..8 both hold frames 4 and 6; A: rows 1..9 (90 px), less row 9 in window 0..7
    assert res["vc_8_windows"] == 2
    assert res["vc_8"] == pytest.approx(((80 - 5) / 80 + (90 - 5) / 90) / 2)
    assert "tc" not in res  # no flow given: no TC


def test_windows_need_n_labelled_frames_in_a_row_and_clips_shorter_than_n_are_skipped():
    pred = torch.zeros(8, 8, dtype=torch.long)
    label = torch.zeros(8, 8, dtype=torch.uint8)
    res = run([pred] * 12, [label] * 5 + [None] + [label] * 6, windows=(4, 8))
    assert res["vc_4_windows"] == 2 + 3 and res["vc_8_windows"] == 0 and res["vc_8"] is None


def test_a_clip_translated_by_a_known_flow_keeps_tc_for_a_translated_prediction():
    """Frames and prediction both move by (3, 2) px a frame: TC stays 1 on every pixel the flow
    check keeps (those moving out of the frame are masked)."""
    h, w, steps, (dx, dy) = 96, 128, 6, (3, 2)
    big = texture(h + 40, w + 40, seed=3)
    cls = np.zeros((h + 40, w + 40), np.int64)
    cls[30:90, 40:110], cls[60:120, 20:60] = 1, 2
    frames, preds = [], []
    for t in range(steps):
        y, x = 30 - t * dy, 30 - t * dx  # the window moves up-left: the content moves down-right
        frames.append(torch.from_numpy(big[y:y + h, x:x + w].copy()).expand(3, -1, -1))
        preds.append(torch.from_numpy(cls[y:y + h, x:x + w].copy()))
    res = run(preds, frames=frames, windows=())
    assert res["tc_pairs"] == steps - 1 and res["tc"] > 0.999
    shifted = run([preds[0]] * steps, frames=frames, windows=())  # a prediction that does not follow the scene
    assert shifted["tc"] < 0.95


def test_flow_warps_index_the_following_frame_and_mask_what_leaves_it():
    h, w = 64, 80
    big = texture(h + 8, w + 8, seed=5)
    frame = torch.from_numpy(big[4:4 + h, 4:4 + w].copy()).expand(3, -1, -1)
    following = torch.from_numpy(big[4:4 + h, 0:w].copy()).expand(3, -1, -1)  # content moved 4 px right
    warps = FlowWarps()
    idx = warps.index(frame, following, key=(0, 0)).reshape(h, w)
    inner = idx[8:-8, 8:-12]
    ys, xs = torch.meshgrid(torch.arange(8, h - 8), torch.arange(8, w - 12), indexing="ij")
    assert ((inner == ys * w + xs + 4).float().mean()) > 0.98
    assert (idx[:, -2:] == -1).all()  # pixels of the right edge leave the frame
    assert warps.index(frame, following, key=(0, 0)) is warps.cache[(0, 0)]
