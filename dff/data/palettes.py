"""Colour palettes and overlays for segmentation maps."""
from __future__ import annotations

import numpy as np


def voc_palette(n: int = 256) -> np.ndarray:
    """PASCAL VOC / DAVIS colour map (n, 3) uint8: class 0 black, 1 dark red, 2 green, ..."""
    pal = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def overlay(frame: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend palette colours over an RGB frame; black-coloured classes (background) stay unblended."""
    colour = palette[labels]
    blend = (frame.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha).astype(np.uint8)
    keep = ~colour.any(-1)
    blend[keep] = frame[keep]
    return blend
