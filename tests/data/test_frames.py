"""The frame contract: the short-side size and the area resize training and inference share."""
import cv2
import numpy as np
import pytest

from dff.data.frames import resized_size, shrink


@pytest.mark.parametrize("hw, short, out", [
    ((480, 854), 240, (240, 427)),
    ((854, 480), 240, (427, 240)),
    ((360, 640), 240, (240, 427)),
    ((480, 854), 480, (480, 854)),
    ((24, 32), 10, (10, 13)),
    ((100, 100), 7, (7, 7)),
    ((1000, 2), 1, (500, 1)),
])
def test_resized_size(hw, short, out):
    assert resized_size(*hw, short) == out


@pytest.mark.parametrize("hw, size", [((540, 960), (240, 427)), ((1080, 1920), (240, 427)), ((480, 854), (240, 427)),
                                      ((72, 96), (24, 32)), ((50, 70), (48, 67)), ((24, 32), (48, 64)),
                                      ((101, 99), (30, 40))])
def test_shrink_is_an_area_resize(hw, size):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(noise, (0, 0), max(2.0, min(hw) / 180))  # about a video frame's smoothness
    out, ref = shrink(img, size), cv2.resize(img, size[::-1], interpolation=cv2.INTER_AREA)
    assert out.shape == ref.shape == (*size, 3) and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - ref)
    if hw[0] % size[0] == 0 and hw[1] % size[1] == 0 or hw[0] < 2 * size[0] or hw[1] < 2 * size[1]:
        assert diff.max() == 0  # integer ratios, less than 2x and enlargements: OpenCV's own resize
    else:  # halved first: the two box filters together are near the direct one
        assert diff.mean() < 1.0 and diff.max() <= 8
    assert shrink(img[..., 0], size).shape == size  # single-channel images as well
    if hw[0] >= 2 * size[0]:  # antialiased: a one-pixel checkerboard shrinks to flat grey, not to a pattern
        checker = (np.indices(hw).sum(0) % 2 * 255).astype(np.uint8)
        assert np.abs(shrink(checker, size).astype(int) - 127.5).max() < 40
