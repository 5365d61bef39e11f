"""publish: a file or folder written beside its target, verified, then renamed onto it; nothing
half-written is ever seen, and a failure leaves the target as it was and no temp behind."""
import pytest

from dff.io.outputs import remove_stale_temps
from dff.io.publish import publish


def test_a_file_appears_whole_and_a_failed_write_or_check_changes_nothing(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with publish(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.json.tmp-") and tmp.exists()
        tmp.write_text("new")
        assert not target.exists()  # nothing at the target until the write is done
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError), publish(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    def refuse(tmp):
        raise ValueError(f"{tmp.name}: fails its check")
    with pytest.raises(ValueError, match="fails its check"), publish(target, verify=refuse) as tmp:
        tmp.write_text("bad")
    assert target.read_text() == "new" and sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_a_folder_is_swapped_in_whole_and_its_temp_names_are_the_ones_swept(tmp_path):
    target = tmp_path / "labels"
    target.mkdir()
    (target / "old.png").write_text("old")
    out = publish(target, folder=True, suffix="")
    (out.tmp / "00000.png").write_text("new")
    assert remove_stale_temps(tmp_path, "labels") == [out.tmp]  # what a killed run leaves is swept
    out = publish(target, folder=True)
    (out.tmp / "00000.png").write_text("new")
    out.commit()
    out.commit()  # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels"]
    assert sorted(p.name for p in target.iterdir()) == ["00000.png"]
    video = publish(tmp_path / "v.mp4", suffix=".mp4")
    assert video.tmp.suffix == ".mp4" and remove_stale_temps(tmp_path, "v.mp4") == [video.tmp]
