import pytest
import torch

from dff.data.synthetic import generate_sequence


@pytest.fixture(scope="module")
def pair():
    """(current, key, ground-truth flow current -> key) from the synthetic generator."""
    s = generate_sequence(3, 3, (96, 128), 4)
    frames = torch.from_numpy(s["frames"]).permute(0, 3, 1, 2).float() / 255
    return frames[2:3], frames[1:2], torch.from_numpy(s["flow"][2]).permute(2, 0, 1)[None]

