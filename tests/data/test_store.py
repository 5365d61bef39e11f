import cv2
import numpy as np
import pytest
import torch

from dff.data.datasets import label_lut
from dff.data.labels import lut_reader
from dff.data.layouts import davis_clips
from dff.data.store import FrameStore
from layout_fixtures import make_noise_davis

davis_label = lut_reader(label_lut("davis", 2))  # what dff reads DAVIS masks with


@pytest.mark.parametrize("short_side, size", [(12, (12, 16)), (10, (10, 13)), (36, (36, 48))])
def test_frame_store_resizes_frames_and_labels(noise_davis, short_side, size):
    store = FrameStore(davis_clips(noise_davis, "train", "temporal", 0.6), short_side, davis_label)
    for clip, frames, labels in zip(store.clips, store.frames, store.labels):
        assert sorted(frames) == list(range(clip.start, clip.end))  # nothing outside the split
        for i, f in frames.items():
            assert f.dtype == torch.uint8 and f.shape == (3, *size) and f.is_contiguous()
            red = f[:, : size[0] // 8, : size[1] // 8].float().mean(dim=(1, 2))
            assert red[0] > 200 and red[1] < 60 and red[2] < 60  # stored RGB, not BGR
        for i, lab in labels.items():
            assert lab.dtype == torch.uint8 and lab.shape == size
            assert set(lab.unique().tolist()) == {0, 1}  # nearest: no blended values
            # the resized label is a nearest-neighbour sample of the original mask
            orig = davis_label(clip.labels[i])
            ref = cv2.resize(orig, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
            np.testing.assert_array_equal(lab.numpy(), ref)


def test_frame_store_split_ranges_and_targets(noise_davis):
    val = FrameStore(davis_clips(noise_davis, "val", "temporal", 0.6), 12, davis_label)
    assert [sorted(f) for f in val.frames] == [list(range(6, 10)), list(range(4, 7))]
    # alpha frame 8 has no mask: not a target, but still stored (it can be a key)
    assert val.targets() == [(0, 6), (0, 7), (0, 9), (1, 4), (1, 5), (1, 6)]
    assert 8 in val.frames[0] and 8 not in val.labels[0]


def test_frame_store_label_size_mismatch_names_file(tmp_path):
    root = make_noise_davis(tmp_path / "d", bad_size={("beta", 2)})
    with pytest.raises(ValueError, match=r"beta.00002\.png.*differs"):
        FrameStore(davis_clips(root, "val", "sequences"), 12, davis_label)
    # outside the split the bad label is never read
    FrameStore(davis_clips(root, "val", "temporal", 0.6), 12, davis_label)
