"""Tests for dff.data.palettes: dataset palettes, lookup by name."""
import sys

import numpy as np
import pytest

from dff.data.palettes import (camvid_palette, cityscapes_palette, colourise, get_palette, overlay, png_palette,
                               synthetic_palette, voc_palette)


def test_camvid_is_segnets_eleven_colours():
    pal = camvid_palette()
    assert pal.shape == (11, 3) and pal.dtype == np.uint8 and len({tuple(c) for c in pal}) == 11
    assert pal[0].tolist() == [128, 128, 128] and pal[3].tolist() == [128, 64, 128]  # sky, road


def test_cityscapes_comes_from_cityscapesscripts():
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    pal = cityscapes_palette()
    assert pal.shape == (19, 3)
    assert pal[0].tolist() == list(labels.name2label["road"].color) == [128, 64, 128]
    assert pal[18].tolist() == list(labels.name2label["bicycle"].color)


def test_cityscapes_without_its_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cityscapesscripts.helpers.labels", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'dff\[cityscapes\]'"):
        cityscapes_palette()


def test_lookup_by_name():
    assert (get_palette("davis") == voc_palette()).all() and (get_palette("camvid") == camvid_palette()).all()
    with pytest.raises(ValueError, match="unknown palette 'kitti'"):
        get_palette("kitti")
    assert (get_palette("synthetic") == synthetic_palette()).all()


def test_png_palette_pads_to_256_colours():
    flat = png_palette(camvid_palette())
    assert len(flat) == 768 and flat[:3] == [128, 128, 128] and not any(flat[33:])


def test_overlay_blends_every_class_of_a_palette_without_black():
    frame = np.full((1, 2, 3), 100, np.uint8)
    out = overlay(frame, np.array([[0, 3]]), camvid_palette(), alpha=0.25)
    assert out.tolist() == [[[107, 107, 107], [107, 91, 107]]]  # 0.75 * 100 + 0.25 * colour


@pytest.mark.parametrize("name", ["davis", "cityscapes", "voc"])
def test_overlay_and_colourise_equal_the_palette_lookup(name):
    """The lookup-table drawing (dff infer's) against palette[labels] blended by numpy."""
    rng = np.random.default_rng(0)
    pal = get_palette(name)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    labels = rng.integers(0, min(len(pal), 256), (37, 53)).astype(np.uint8)
    assert np.array_equal(colourise(labels, pal), pal[labels])
    blend = np.round(0.7 * frame + 0.3 * pal[labels].astype(float))
    expected = np.where(pal[labels].any(-1, keepdims=True), blend, frame)
    assert np.abs(overlay(frame, labels, pal, alpha=0.3).astype(int) - expected).max() <= 1
    assert not colourise(np.full((2, 2), 30, np.uint8), get_palette("camvid")).any()  # past the palette: black
