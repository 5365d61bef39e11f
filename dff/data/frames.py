"""The frame contract training and inference share: frames area-resized to a short side, held as
uint8 (3, H, W), read by the networks as float in [0, 1]. `dff eval` and `dff infer` thus compute
alike on the same frame."""
from __future__ import annotations

import cv2
import numpy as np
import torch


def resized_size(h: int, w: int, short_side: int) -> tuple[int, int]:
    """(h, w) scaled so that the short side equals short_side."""
    s = short_side / min(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image (H, W[, C]) area-resized to size (h, w): halved by 2 x 2 box averages while it stays
    at least that size, then one area resize for the rest. OpenCV's general area resize costs 2-4x
    more (960x540 to 427x240: 3.9 against 2.0 ms; 1920x1080: 10.7 against 2.8); the two differ by
    a fraction of a level on video frames and not at all where the ratio is an integer."""
    h, w = size
    while img.shape[1] // 2 >= w and img.shape[0] // 2 >= h and (img.shape[1] % w or img.shape[0] % h):
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def to_float(frame: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) to float [0, 1]."""
    return frame.float().div_(255.0)
