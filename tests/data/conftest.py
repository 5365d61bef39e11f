import pytest

from layout_fixtures import make_noise_davis


@pytest.fixture(scope="module")
def noise_davis(tmp_path_factory):
    """The noise DAVIS layout with no mask on alpha's frame 8."""
    return make_noise_davis(tmp_path_factory.mktemp("davis"), missing={("alpha", 8)})
