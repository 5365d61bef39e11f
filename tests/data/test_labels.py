import numpy as np
import pytest
from PIL import Image

from dff.data.labels import build_lut, identity_map, lut_reader, map_raw, read_label_image, read_mapped


def _save(path, arr, mode=None, palette=None):
    img = Image.fromarray(arr, mode) if mode else Image.fromarray(arr)
    if palette is not None:
        img.putpalette(palette)
    img.save(path)
    return path


def test_palette_png_reads_as_indices(tmp_path):
    idx = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    # index 1 is red, 2 is green: a colour reader would give (128, 0, 0) etc., never 1 and 2
    p = _save(tmp_path / "pal.png", idx, palette=[0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    with Image.open(p) as img:
        assert img.mode == "P"
    out = read_label_image(p)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, idx)
    np.testing.assert_array_equal(read_mapped(p, build_lut(identity_map(3), 3)), idx)


@pytest.mark.parametrize("mode, shape", [("RGB", (4, 5, 3)), ("RGBA", (4, 5, 4)), ("LA", (4, 5, 2))])
def test_rgb_and_alpha_labels_raise_naming_file_and_mode(tmp_path, mode, shape):
    p = tmp_path / f"lab_{mode}.png"
    Image.fromarray(np.zeros(shape, np.uint8), mode).save(p)
    with pytest.raises(ValueError, match=rf"lab_{mode}\.png: label image has mode {mode}.*RGB or alpha"):
        read_label_image(p)


def test_16bit_labels_in_range_pass_and_above_range_raise(tmp_path):
    ok = _save(tmp_path / "ok16.png", np.array([[0, 1], [2, 255]], np.uint16))
    assert read_label_image(ok).dtype == np.uint16
    np.testing.assert_array_equal(read_mapped(ok, build_lut(identity_map(3), 3)), [[0, 1], [2, 255]])
    big = _save(tmp_path / "big16.png", np.array([[0, 1], [300, 1000]], np.uint16))
    with pytest.raises(ValueError, match=r"big16\.png: 16-bit label values \[300, 1000\] not allowed"):
        read_mapped(big, build_lut(identity_map(3), 3))


def test_ids_outside_class_range_raise_listing_found_and_allowed(tmp_path):
    p = _save(tmp_path / "bad.png", np.array([[0, 3, 7, 255]], np.uint8))
    with pytest.raises(ValueError, match=r"bad\.png: label values \[3, 7\] not allowed "
                                         r"\(found \[0, 3, 7, 255\]; allowed raw values \[0, 1, 2, 255\]\)"):
        lut_reader(build_lut(identity_map(3), 3))(p)
    # another ignore index makes 255 an error too, and is itself allowed
    with pytest.raises(ValueError, match=r"values \[3, 255\] not allowed.*allowed raw values \[0, 1, 2, 7\]"):
        read_mapped(p, build_lut(identity_map(3, 7), 3, 7))


def test_lut_maps_raw_values_and_checks_targets():
    lut = build_lut({10: 0, 20: 1, 30: 255}, 2)
    raw = np.array([[10, 20], [30, 10]], np.uint8)
    out = map_raw(raw, lut, "x.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 1], [255, 0]])
    with pytest.raises(ValueError, match=r"x\.png: label values \[0\]"):
        map_raw(np.zeros((2, 2), np.uint8), lut, "x.png")
    with pytest.raises(ValueError, match=r"label map: 5 -> 2, outside \[0, 2\)"):
        build_lut({5: 2}, 2)
    with pytest.raises(ValueError, match="ignore_index must be in"):
        build_lut({0: 0}, 2, ignore_index=300)
    with pytest.raises(ValueError, match="raw value 70000"):
        build_lut({70000: 0}, 2)


def test_unreadable_label_names_file(tmp_path):
    p = tmp_path / "junk.png"
    p.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"junk\.png: unreadable label image"):
        read_label_image(p)


def test_float_label_is_not_class_ids(tmp_path):
    p = tmp_path / "f.tif"
    Image.fromarray(np.zeros((3, 4), np.float32)).save(p)
    with pytest.raises(ValueError, match=r"f\.tif: label image has mode F \(not integer class ids\)"):
        read_label_image(p)
