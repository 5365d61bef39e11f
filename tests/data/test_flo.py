import re

import numpy as np
import pytest

from dff.data.flo import FLO_MAGIC, read_flo, write_flo


def random_flow(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Random float32 flow with distinct u and v so a channel swap would show."""
    rng = np.random.default_rng(seed)
    flow = rng.normal(scale=20.0, size=(h, w, 2)).astype(np.float32)
    flow[..., 1] += 1000.0
    return flow


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (96, 128), (3, 0)])
def test_round_trip_is_exact(tmp_path, size):
    flow = random_flow(*size)
    path = tmp_path / "a.flo"
    write_flo(path, flow)
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == flow.shape
    assert back.tobytes() == flow.tobytes()
    assert back.flags.writeable


def test_file_layout_matches_middlebury(tmp_path):
    flow = random_flow(2, 3)
    path = tmp_path / "a.flo"
    write_flo(str(path), flow.astype(np.float64))  # str paths and other dtypes are accepted
    data = path.read_bytes()
    assert data[:4] == b"PIEH"  # 202021.25 as little-endian float32
    assert np.frombuffer(data, "<f4", count=1)[0] == FLO_MAGIC
    assert np.frombuffer(data, "<i4", count=2, offset=4).tolist() == [3, 2]  # width, then height
    assert len(data) == 12 + 2 * 3 * 2 * 4
    # Row-major, interleaved (u, v): the second value is v of pixel (0, 0), the third is u of (0, 1).
    body = np.frombuffer(data, "<f4", offset=12)
    assert body[1] == flow[0, 0, 1] and body[2] == flow[0, 1, 0]


def test_write_rejects_bad_shape(tmp_path):
    with pytest.raises(ValueError):
        write_flo(tmp_path / "a.flo", np.zeros((4, 5, 3), np.float32))


def test_bad_magic_raises_with_filename(tmp_path):
    path = tmp_path / "bad_magic.flo"
    write_flo(path, random_flow(4, 5))
    data = bytearray(path.read_bytes())
    data[:4] = np.array([1.0], "<f4").tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        read_flo(path)


@pytest.mark.parametrize("keep", [0, 6, 12, 12 + 4 * 5 * 8 - 1])
def test_truncated_file_raises_with_filename(tmp_path, keep):
    path = tmp_path / "truncated.flo"
    write_flo(path, random_flow(4, 5))
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ValueError, match="truncated.flo"):
        read_flo(path)


def test_trailing_bytes_raise(tmp_path):
    path = tmp_path / "long.flo"
    write_flo(path, random_flow(4, 5))
    path.write_bytes(path.read_bytes() + b"\0" * 8)
    with pytest.raises(ValueError, match="long.flo"):
        read_flo(path)
