"""Colour palettes and overlays for segmentation maps."""
from __future__ import annotations

import cv2
import numpy as np

from .synthetic import SYNTHETIC_PALETTE

# SegNet's CamVid colours for its 11 classes (ids 0..10; 11 = void is ignored, drawn black).
CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign_symbol", "fence",
                  "car", "pedestrian", "bicyclist")
CAMVID_COLOURS = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222),
                  (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0),
                  (0, 128, 192))


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
    # cv2 and np.take rather than float32 numpy and fancy indexing: ~3x faster at 960x540.
    colour = np.take(palette, labels, axis=0)
    blend = cv2.addWeighted(frame, 1 - alpha, colour, alpha, 0.0)
    keep = np.take(~palette.any(-1), labels).astype(np.uint8)
    cv2.copyTo(frame, keep, blend)
    return blend


def camvid_palette() -> np.ndarray:
    """SegNet CamVid colours (11, 3) uint8 in class-id order (CAMVID_CLASSES)."""
    return np.array(CAMVID_COLOURS, dtype=np.uint8)


def cityscapes_palette() -> np.ndarray:
    """Cityscapes train-id colours (19, 3) uint8, taken from cityscapesscripts' label table."""
    try:
        from cityscapesscripts.helpers.labels import trainId2label
    except ImportError as e:
        raise ImportError("the cityscapes palette needs cityscapesscripts: "
                          "pip install 'dff[cityscapes]'") from e
    return np.array([trainId2label[i].color for i in range(19)], dtype=np.uint8)


def synthetic_palette() -> np.ndarray:
    """The synthetic generator's class colours (hues of its objects; background black)."""
    return SYNTHETIC_PALETTE.copy()


PALETTES = {"voc": voc_palette, "davis": voc_palette, "camvid": camvid_palette,
            "cityscapes": cityscapes_palette, "synthetic": synthetic_palette}
# data.dataset -> palette; datasets not listed (folder) use the generic VOC colour map.
DATASET_PALETTES = {"davis": "voc", "camvid": "camvid", "cityscapes": "cityscapes", "synthetic": "synthetic"}


def get_palette(name: str) -> np.ndarray:
    """Palette (n, 3) uint8 by name: voc (= davis), camvid, cityscapes or synthetic."""
    if name not in PALETTES:
        raise ValueError(f"unknown palette {name!r}; choose from {', '.join(PALETTES)}")
    return PALETTES[name]()


def dataset_palette(dataset: str) -> str:
    """Name of the palette that draws `dataset`'s classes."""
    return DATASET_PALETTES.get(dataset, "voc")


def png_palette(palette: np.ndarray) -> list[int]:
    """A palette as the flat 768-entry RGB list of a PIL "P" image (unused entries black)."""
    flat = np.zeros((256, 3), np.uint8)
    flat[: len(palette)] = palette[:256]
    return flat.reshape(-1).tolist()
