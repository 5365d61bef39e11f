import json
import os
import re

import cv2
import numpy as np
import pytest

from dff.data import synthetic
from dff.data.flo import read_flo
from dff.data.palettes import synthetic_palette
from dff.data.synthetic import generate_sequence, sequence_seed, write_synthetic

SYNTHETIC_PALETTE = synthetic_palette()

KEYS = {"frames", "labels", "flow", "occ"}
BOX5 = np.ones((5, 5), np.uint8)


def grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def warp_back(prev: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample frame t-1 at p + flow[t][p] (bilinear), i.e. predict frame t."""
    xs, ys = grid(*flow.shape[:2])
    return cv2.remap(
        prev.astype(np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def interior_visible(labels: np.ndarray, flow: np.ndarray, occ: np.ndarray) -> np.ndarray:
    """Visible pixels 2+ px away from occlusions, label edges and flow discontinuities (layer edges)."""
    visible = cv2.erode((occ == 0).astype(np.uint8), BOX5, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    lab = labels.astype(np.float32)
    edge = cv2.dilate(lab, BOX5) != cv2.erode(lab, BOX5)
    for c in range(2):
        ch = np.ascontiguousarray(flow[..., c])
        edge |= cv2.dilate(ch, BOX5) - cv2.erode(ch, BOX5) > 0.25
    return visible & ~edge


# ---------------------------------------------------------------------------- generate_sequence


def test_deterministic_by_seed():
    a = generate_sequence(3, num_frames=6, size=(48, 64))
    b = generate_sequence(3, num_frames=6, size=(48, 64))
    c = generate_sequence(4, num_frames=6, size=(48, 64))
    assert set(a) == KEYS
    for key in KEYS:
        assert a[key].tobytes() == b[key].tobytes(), key
    assert not np.array_equal(a["frames"], c["frames"])
    assert not np.array_equal(a["flow"], c["flow"])


@pytest.mark.parametrize("num_classes", [2, 4, 7])
def test_shapes_dtypes_and_ranges(num_classes):
    t, h, w = 5, 40, 56
    seq = generate_sequence(11, num_frames=t, size=(h, w), num_classes=num_classes)
    assert seq["frames"].shape == (t, h, w, 3) and seq["frames"].dtype == np.uint8
    assert seq["labels"].shape == (t, h, w) and seq["labels"].dtype == np.uint8
    assert seq["flow"].shape == (t, h, w, 2) and seq["flow"].dtype == np.float32
    assert seq["occ"].shape == (t, h, w) and seq["occ"].dtype == np.uint8
    assert seq["labels"].max() < num_classes
    assert set(np.unique(seq["occ"])) <= {0, 1}
    assert np.isfinite(seq["flow"]).all()
    assert np.abs(seq["flow"]).max() < 10  # per-frame motion is a few pixels
    assert not seq["flow"][0].any() and not seq["occ"][0].any()
    assert seq["flow"][1:].any()
    assert not np.array_equal(seq["frames"][0], seq["frames"][-1])  # things move


def test_single_frame_and_bad_args():
    seq = generate_sequence(0, num_frames=1, size=(16, 16))
    assert seq["frames"].shape == (1, 16, 16, 3) and not seq["flow"].any()
    with pytest.raises(ValueError):
        generate_sequence(0, num_frames=0)
    with pytest.raises(ValueError):
        generate_sequence(0, num_classes=1)


@pytest.mark.parametrize("num_classes", [4, 6])
def test_every_class_appears_over_a_few_seeds(num_classes):
    seen = set()
    for seed in range(6):
        seen |= set(np.unique(generate_sequence(seed, num_frames=4, size=(48, 64), num_classes=num_classes)["labels"]))
    assert seen == set(range(num_classes))


def circular_distance(a: float, b: float, period: float = 256.0) -> float:
    d = abs(a - b) % period
    return min(d, period - d)


def test_classes_are_recognisable_by_colour():
    """Background is unsaturated, objects are saturated with a class-specific hue."""
    hues: dict[int, list[float]] = {}
    for seed in range(4):
        seq = generate_sequence(seed, num_frames=3, size=(64, 80))
        hsv = cv2.cvtColor(seq["frames"].reshape(-1, 80, 3), cv2.COLOR_RGB2HSV_FULL).reshape(seq["frames"].shape)
        labels = seq["labels"]
        assert np.median(hsv[..., 1][labels == 0]) < 80
        for c in range(1, 4):
            if (labels == c).sum() > 50:
                assert np.median(hsv[..., 1][labels == c]) > 150
                # Circular mean: class 1 is red, whose hue wraps around 0.
                angle = hsv[..., 0][labels == c] * (2 * np.pi / 256)
                mean = np.angle(np.exp(1j * angle).mean()) * 256 / (2 * np.pi) % 256
                hues.setdefault(c, []).append(float(mean))
    assert sorted(hues) == [1, 2, 3]
    for c, hs in hues.items():
        assert max(circular_distance(h, hs[0]) for h in hs) < 12  # OpenCV full hue scale 0..255
        for other in range(c + 1, 4):
            assert circular_distance(hs[0], hues[other][0]) > 30


@pytest.mark.parametrize("seed,motion", [(0, "steady"), (1, "steady"), (2, "steady"), (5, "steady"),
                                         (7, "steady"), (13, "steady"), (0, "bursty"), (5, "bursty"),
                                         (0, "chairs"), (4, "chairs")])
def test_warping_previous_frame_by_flow_reproduces_frame(seed, motion):
    seq = generate_sequence(seed, num_frames=10 if motion != "chairs" else 4, motion=motion)
    frames, flow = seq["frames"], seq["flow"]
    # The velocities are sub-pixel: bilinear resampling is really exercised.
    assert np.mean(np.abs(flow[1:] - np.round(flow[1:])) > 0.05) > 0.5
    errors = []
    for t in range(1, len(frames)):
        valid = interior_visible(seq["labels"][t], flow[t], seq["occ"][t])
        err = np.abs(warp_back(frames[t - 1], flow[t]) - frames[t].astype(np.float32)).max(axis=-1)
        errors.append(err[valid])
    errors = np.concatenate(errors)
    # chairs: 4-7 fast objects leave fewer interior, unoccluded pixels
    assert errors.size > (0.25 if motion == "chairs" else 0.5) * flow[1:, ..., 0].size
    assert errors.mean() < 2.0, errors.mean()
    assert np.percentile(errors, 99) < 8.0, np.percentile(errors, 99)


def test_bursty_motion_alternates_still_and_fast_stretches():
    """bursty: the scene's mean motion per frame swings between near-still and fast; steady: it
    hardly changes. The same seed gives the same objects either way."""
    steady, bursty = (generate_sequence(3, num_frames=30, size=(48, 64), motion=m) for m in ("steady", "bursty"))
    assert set(np.unique(steady["labels"])) == set(np.unique(bursty["labels"]))
    still, fast = (np.linalg.norm(seq["flow"][1:], axis=-1).mean(axis=(1, 2)) for seq in (steady, bursty))
    assert still.max() < 1.5 * still.min()
    assert fast.max() > 8 * fast.min()
    assert (fast < 0.3 * fast.max()).sum() >= 5 and (fast > 0.6 * fast.max()).sum() >= 5
    with pytest.raises(ValueError, match="steady, bursty, chairs"):
        generate_sequence(3, num_frames=3, motion="jerky")


def test_chairs_motion_covers_large_displacements_rotation_and_zoom():
    """chairs: displacements up to ~30 px per frame at 240 px height (scaled with the height), a
    rotating or zooming background; the same regime at half the height moves half as far."""
    mags, spread = [], []
    for seed in range(4):
        seq = generate_sequence(seed, num_frames=3, size=(240, 320), motion="chairs")
        mags.append(np.linalg.norm(seq["flow"][1:], axis=-1).ravel())
        spread.append(seq["flow"][1][seq["labels"][1] == 0].std(axis=0).max())
    mags = np.concatenate(mags)
    assert 4.0 < mags.mean() < 16.0 and 20.0 < mags.max() < 45.0, (mags.mean(), mags.max())
    assert np.percentile(mags, 90) > 3 * np.linalg.norm(generate_sequence(0, 3, (240, 320))["flow"][1:], axis=-1).max()
    small = np.linalg.norm(generate_sequence(0, 3, (120, 160), motion="chairs")["flow"][1:], axis=-1)
    assert small.max() < 25.0
    assert max(spread) > 0.5  # a rotating or zooming background: its flow is not one translation


def test_background_zoom_is_exercised():
    """At least one seed of the warp test has a zooming background (non-constant background flow)."""
    stds = []
    for seed in [0, 1, 2, 5, 7, 13]:
        seq = generate_sequence(seed, num_frames=3)
        stds.append(seq["flow"][1][seq["labels"][1] == 0].std(axis=0).max())
    assert max(stds) > 0.05 and min(stds) < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_occlusion_is_consistent_with_flow(seed):
    seq = generate_sequence(seed, num_frames=10)
    labels, flow, occ = seq["labels"], seq["flow"], seq["occ"]
    h, w = labels.shape[1:]
    xs, ys = grid(h, w)
    agree = total = 0
    for t in range(1, len(labels)):
        sx, sy = xs + flow[t, ..., 0], ys + flow[t, ..., 1]
        outside = (sx < 0) | (sx > w - 1) | (sy < 0) | (sy > h - 1)
        assert occ[t][outside].all()  # sources outside frame t-1 are occluded
        vis = occ[t] == 0
        src = labels[t - 1][np.round(sy[vis]).astype(int), np.round(sx[vis]).astype(int)]
        agree += int((src == labels[t][vis]).sum())
        total += int(vis.sum())
    assert agree / total > 0.98  # a visible point keeps its label (up to rounding at edges)


def test_objects_cause_occlusions_inside_the_frame():
    interior = 0
    for seed in range(4):
        occ = generate_sequence(seed, num_frames=10)["occ"]
        interior += int(occ[:, 10:-10, 10:-10].sum())  # background drift only occludes at the border
    assert interior > 0


# ---------------------------------------------------------------------------- hand-built scene


def disc_layer(label: int, radius: int, start: tuple[int, int], velocity: tuple[int, int], frames: int):
    """A flat-coloured disc translating at an integer velocity."""
    side = 2 * radius + 9
    centre = (side - 1) / 2.0
    texture = np.full((side, side, 3), 60.0 * label, np.float32)
    affines = np.stack(
        [
            synthetic._similarity(1.0, 0.0, start[0] + velocity[0] * t - centre, start[1] + velocity[1] * t - centre)
            for t in range(frames)
        ]
    )
    return synthetic._Layer(texture, label, "disc", (centre, centre), (radius, radius), affines, wrap=False)


def test_hand_built_scene_flow_and_occlusion_are_exact():
    h, w, frames = 40, 60, 6
    background = synthetic._Layer(
        np.zeros((2 * h, 2 * w, 3), np.float32), 0, "plane", (0, 0), (1, 1), np.stack([np.eye(2, 3)] * frames), True
    )
    discs = [  # (label, radius, start, velocity); later discs on top
        (1, 8, (30, 20), (0, 0)),  # static
        (2, 6, (12, 20), (4, 0)),  # slides over disc 1
        (3, 7, (66, 8), (-3, 1)),  # enters from the right
    ]
    layers = [background] + [disc_layer(lab, r, s, v, frames) for lab, r, s, v in discs]
    out = synthetic._render(layers, frames, (h, w))

    xs, ys = grid(h, w)

    def top(x, y, t):
        ids = np.zeros(x.shape, int)
        for k, (_, r, s, v) in enumerate(discs, start=1):
            ids[(x - s[0] - v[0] * t) ** 2 + (y - s[1] - v[1] * t) ** 2 <= r * r] = k
        return ids

    velocities = np.array([(0, 0)] + [v for *_, v in discs], np.float32)
    revealed = entering = 0
    for t in range(1, frames):
        ids = top(xs, ys, t)
        np.testing.assert_array_equal(out["labels"][t], np.array([0, 1, 2, 3])[ids])
        np.testing.assert_array_equal(out["flow"][t], -velocities[ids])
        sx, sy = xs - velocities[ids, 0], ys - velocities[ids, 1]
        outside = (sx < 0) | (sx > w - 1) | (sy < 0) | (sy > h - 1)
        expected = outside | (top(sx, sy, t - 1) != ids)
        np.testing.assert_array_equal(out["occ"][t], expected.astype(np.uint8))
        revealed += int((out["occ"][t] & (ids == 1)).sum())
        entering += int((out["occ"][t] & (ids == 3)).sum())
    # Disc 1 is revealed behind disc 2, and disc 3 enters the frame: both are occlusions.
    assert revealed > 0 and entering > 0


# ---------------------------------------------------------------------------- palette


def test_palette():
    assert SYNTHETIC_PALETTE.dtype == np.uint8 and SYNTHETIC_PALETTE.shape == (16, 3)
    assert not SYNTHETIC_PALETTE[0].any()
    assert len({tuple(c) for c in SYNTHETIC_PALETTE}) == 16


# ---------------------------------------------------------------------------- write_synthetic

SMALL = dict(num_sequences={"train": 2, "val": 1}, num_frames=3, size=(32, 48), num_classes=4, seed=5)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("ds") / "synthetic", **SMALL)


def test_layout_and_file_counts(written):
    assert sorted(os.listdir(written)) == ["synthetic.json", "train", "val"]
    assert sorted(os.listdir(written / "train")) == ["seq000", "seq001"]
    assert sorted(os.listdir(written / "val")) == ["seq002"]
    for seq_dir in [written / "train" / "seq000", written / "train" / "seq001", written / "val" / "seq002"]:
        assert sorted(os.listdir(seq_dir)) == ["flow", "frames", "labels", "occ"]
        for sub, ext in [("frames", "png"), ("labels", "png"), ("flow", "flo"), ("occ", "png")]:
            assert sorted(os.listdir(seq_dir / sub)) == [f"{i:05d}.{ext}" for i in range(3)]
    assert not [p for p in os.listdir(written.parent) if ".tmp-" in p or ".old-" in p]


def test_metadata(written):
    meta = json.loads((written / "synthetic.json").read_text())
    assert meta["num_classes"] == 4
    assert meta["class_names"] == ["background", "class1", "class2", "class3"]
    assert meta["size"] == [32, 48] and meta["num_frames"] == 3 and meta["seed"] == 5
    seeds = [s["seed"] for split in meta["sequences"].values() for s in split]
    assert seeds == [sequence_seed(5, i) for i in range(3)] and len(set(seeds)) == 3


@pytest.mark.parametrize("split,name,index", [("train", "seq001", 1), ("val", "seq002", 2)])
def test_files_round_trip(written, split, name, index):
    seq = generate_sequence(sequence_seed(5, index), num_frames=3, size=(32, 48), num_classes=4)
    seq_dir = written / split / name
    for t in range(3):
        frame = cv2.imread(str(seq_dir / "frames" / f"{t:05d}.png"), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), seq["frames"][t])
        labels = cv2.imread(str(seq_dir / "labels" / f"{t:05d}.png"), cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint8 and labels.ndim == 2
        np.testing.assert_array_equal(labels, seq["labels"][t])
        np.testing.assert_array_equal(read_flo(seq_dir / "flow" / f"{t:05d}.flo"), seq["flow"][t])
        occ = cv2.imread(str(seq_dir / "occ" / f"{t:05d}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(occ, seq["occ"][t] * 255)


def test_reuse_does_not_regenerate(written, monkeypatch):
    files = [written / "synthetic.json", written / "train" / "seq000" / "frames" / "00000.png"]
    mtimes = [f.stat().st_mtime_ns for f in files]

    def fail(*args, **kwargs):
        raise AssertionError("regenerated")

    monkeypatch.setattr(synthetic, "generate_sequence", fail)
    assert write_synthetic(str(written), **SMALL) == written
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_different_parameters_raise_then_overwrite(tmp_path):
    out = write_synthetic(tmp_path / "ds", **dict(SMALL, num_sequences={"train": 1}))
    with pytest.raises(FileExistsError, match=re.escape(str(out))) as info:
        write_synthetic(out, **dict(SMALL, num_sequences={"train": 1}, seed=6))
    assert '"seed": 5' in str(info.value) and '"seed": 6' in str(info.value)
    # Split order fixes sequence numbering, so it is part of the parameters.
    two = dict(SMALL, num_sequences={"train": 1, "val": 1})
    write_synthetic(out, **two, overwrite=True)
    with pytest.raises(FileExistsError):
        write_synthetic(out, **dict(two, num_sequences={"val": 1, "train": 1}))
    assert json.loads((out / "synthetic.json").read_text())["num_sequences"] == {"train": 1, "val": 1}
    assert sorted(os.listdir(tmp_path)) == ["ds"]


def test_motion_is_a_parameter_and_old_sets_read_as_steady(tmp_path):
    out = write_synthetic(tmp_path / "ds", **dict(SMALL, num_sequences={"train": 1}))
    meta = json.loads((out / "synthetic.json").read_text())
    assert meta["motion"] == "steady"
    with pytest.raises(FileExistsError, match='"motion": "bursty"'):
        write_synthetic(out, **dict(SMALL, num_sequences={"train": 1}), motion="bursty")
    del meta["motion"]  # written before the option existed
    (out / "synthetic.json").write_text(json.dumps(meta))
    assert write_synthetic(out, **dict(SMALL, num_sequences={"train": 1})) == out
    with pytest.raises(ValueError, match="steady, bursty"):
        write_synthetic(tmp_path / "bad", **SMALL, motion="jerky")
    assert not (tmp_path / "bad").exists()


def test_non_empty_directory_without_metadata(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    write_synthetic(out, **dict(SMALL, num_sequences={"train": 1}))  # an empty directory is fine
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="other"):
        write_synthetic(tmp_path / "other", **dict(SMALL, num_sequences={"train": 1}))
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"
    # --overwrite replaces only a set dff wrote: a folder of someone else's files is never removed
    with pytest.raises(FileExistsError, match="other: is not empty and holds no synthetic.json: not a set dff wrote"):
        write_synthetic(tmp_path / "other", **dict(SMALL, num_sequences={"train": 1}), overwrite=True)
    assert sorted(os.listdir(tmp_path / "other")) == ["notes.txt"]


def test_overwrite_refuses_a_link_to_a_set_and_leaves_nothing_beside_it(tmp_path):
    real = write_synthetic(tmp_path / "real", **dict(SMALL, num_sequences={"train": 1}))
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    with pytest.raises(FileExistsError, match="link: is a link to another folder"):
        write_synthetic(tmp_path / "link", **dict(SMALL, num_sequences={"train": 1}, seed=6), overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["link", "real"] and (tmp_path / "link").is_symlink()
    assert json.loads((real / "synthetic.json").read_text())["seed"] == SMALL.get("seed", 5)
    with pytest.raises(FileExistsError, match="pass --overwrite to replace it$"):
        write_synthetic(real, **dict(SMALL, num_sequences={"train": 1}, seed=6))
