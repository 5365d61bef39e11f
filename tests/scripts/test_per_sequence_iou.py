import importlib.util
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location(
    "per_sequence_iou", Path(__file__).resolve().parents[2] / "scripts" / "per_sequence_iou.py")
per_sequence_iou = importlib.util.module_from_spec(spec)
spec.loader.exec_module(per_sequence_iou)


def square(x0: int, size: int = 20) -> np.ndarray:
    label = np.zeros((40, 60), np.uint8)
    label[10:10 + size, x0:x0 + size] = 1
    return label


def right_of(x0: int) -> np.ndarray:
    label = np.zeros((40, 60), np.uint8)
    label[:, x0:] = 1
    return label


def test_a_prediction_shifted_by_three_pixels_errs_within_two_pixels_of_the_boundary():
    near, wrong = per_sequence_iou.errors_near_boundaries(right_of(23), right_of(20), 255, radii=(1, 2, 4))
    assert wrong == 3 * 40  # a 3-px band of 40 rows
    # the boundary pixels are columns 19 and 20 (each side of the edge): the band lies 0, 1 and 2 px from them
    assert near == [80, 120, 120]


def test_errors_far_from_any_boundary_and_ignored_pixels():
    label, pred = square(5), square(5)
    pred[0, 50:60] = 1  # 10 wrong pixels far from the square
    label[30:, :] = 255  # ignored rows: neither errors nor boundaries
    pred[35, :] = 1
    near, wrong = per_sequence_iou.errors_near_boundaries(pred, label, 255, radii=(4, 16))
    assert wrong == 10 and near == [0, 0]
