from pathlib import Path

import pytest

from dff.data.clips import frame_number


def test_frame_number():
    assert frame_number(Path("a/Seq05VD_f00030.png")) == 30
    assert frame_number(Path("0001TP_006690.png")) == 6690
    with pytest.raises(ValueError, match=r"frame\.png: no frame number"):
        frame_number(Path("frame.png"))
