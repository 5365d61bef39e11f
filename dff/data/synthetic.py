"""Synthetic labelled video with exact ground-truth optical flow.

A sequence is a stack of layers: a smooth-noise background (class 0) and 2-4
objects whose class sets their appearance (hue + texture pattern). Each layer owns
a texture in its own coordinates and, per frame t, an affine map ``T_t`` from
texture to image coordinates. Frames are rendered through the inverse map, so the
backward flow of pixel p is exactly ``T_{t-1}(T_t^{-1}(p)) - p`` for the top-most
layer at p, and occlusion is decided analytically from the layers' shapes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np

from ..io.publish import publish
from .flo import write_flo
from .palettes import class_hue, hsv_to_rgb

GENERATOR_VERSION = 1
SHAPES = ("disc", "ellipse", "rectangle")
# steady: every layer moves at a constant speed; bursty: the whole scene alternates still and
# fast stretches (stop and go), so the motion since a key frame varies within a sequence;
# chairs: FlyingChairs-like flow training data, 4-7 objects with large displacements (up to ~30
# px per frame at 240 px height), fast rotation and zoom over a moving, rotating background.
MOTIONS = ("steady", "bursty", "chairs")
PATTERNS = ("checker", "stripes", "dots", "rings", "grid")
# Blur applied to binary texture patterns: bilinear resampling twice must stay
# close to exact (see the warp invariant in tests), so edges must not be too sharp.
_TEXTURE_SIGMA = 1.6


def class_pattern(cls: int) -> str:
    """Texture pattern name of object class ``cls`` >= 1."""
    return PATTERNS[(cls - 1) % len(PATTERNS)]


def class_names(num_classes: int) -> list[str]:
    """Class names: "background" then "class1" .. "class{num_classes-1}"."""
    return ["background"] + [f"class{c}" for c in range(1, num_classes)]



@dataclass(frozen=True)
class _Ranges:
    """Per-frame motion ranges of a regime; speeds in pixels at 240 px frame height.

    bg_speed: background velocity per axis; bg_zoom: background log-zoom; bg_spin: background
    rotation (radians, 0: none drawn); obj_speed, obj_spin, obj_growth: the objects' velocity per
    axis, rotation and log-scale change; objects: (low, high) object count, high exclusive.
    """

    bg_speed: float
    bg_zoom: float
    bg_spin: float
    obj_speed: float
    obj_spin: float
    obj_growth: float
    objects: tuple[int, int]
    height_scaled: bool  # speeds scale with the frame height (steady/bursty keep their pixel speeds)


_STEADY = _Ranges(1.5, 0.008, 0.0, 3.0, 0.03, 0.01, (2, 5), height_scaled=False)
RANGES = {"steady": _STEADY, "bursty": _STEADY,
          "chairs": _Ranges(8.0, 0.03, 0.03, 20.0, 0.12, 0.06, (4, 8), height_scaled=True)}


@dataclass
class _Layer:
    """One rendered layer: texture, class, shape in texture coords, per-frame affines."""

    texture: np.ndarray  # (h, w, 3) float32 RGB in [0, 255]
    label: int
    shape: str  # one of SHAPES, or "plane" for the background
    center: tuple[float, float]  # (x, y) of the shape centre in texture coords
    half_axes: tuple[float, float]  # shape half extent along texture x and y
    affines: np.ndarray  # (T, 2, 3) float64, texture -> image for each frame
    wrap: bool  # True: the texture tiles (background)


def _apply_affine(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 2x3 affine to coordinate arrays."""
    return m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]


def _invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    a_inv = np.linalg.inv(m[:, :2])
    return np.concatenate([a_inv, -a_inv @ m[:, 2:]], axis=1)


def _compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine of ``outer(inner(x))``."""
    return np.concatenate([outer[:, :2] @ inner[:, :2], outer[:, :2] @ inner[:, 2:] + outer[:, 2:]], axis=1)


def _similarity(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    """2x3 affine x -> scale * R(angle) x + (tx, ty)."""
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


def _inside(layer: _Layer, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Boolean mask of texture coordinates covered by the layer's shape."""
    if layer.shape == "plane":
        return np.ones(qx.shape, bool)
    u = (qx - layer.center[0]) / layer.half_axes[0]
    v = (qy - layer.center[1]) / layer.half_axes[1]
    if layer.shape == "rectangle":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    return u * u + v * v <= 1.0  # disc and ellipse


def _sample(layer: _Layer, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Bilinearly sample the layer's texture at texture coordinates (qx, qy)."""
    th, tw = layer.texture.shape[:2]
    if layer.wrap:
        # Reduce coordinates into one period first: remap's fixed-point maps lose
        # precision far from the texture, and BORDER_WRAP handles the seam.
        qx, qy = np.mod(qx, tw), np.mod(qy, th)
        border = cv2.BORDER_WRAP
    else:
        border = cv2.BORDER_REFLECT
    return cv2.remap(layer.texture, qx.astype(np.float32), qy.astype(np.float32), cv2.INTER_LINEAR, borderMode=border)


def _top_layer(layers: list[_Layer], t: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the top-most layer covering image points (x, y) in frame t (painter's order)."""
    ids = np.zeros(x.shape, np.int32)
    for k, layer in enumerate(layers):
        qx, qy = _apply_affine(_invert_affine(layer.affines[t]), x, y)
        ids[_inside(layer, qx, qy)] = k
    return ids


def _periodic_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean unit-variance Gaussian-smoothed noise that tiles seamlessly."""
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    # Gaussian blur in the frequency domain is a circular blur, hence periodic.
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fx * fx + fy * fy))
    noise = np.fft.irfft2(np.fft.rfft2(white) * kernel, s=shape)
    return (noise - noise.mean()) / (noise.std() + 1e-12)


def _background_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Low-saturation smooth noise on a tiling canvas twice the frame size."""
    canvas = (2 * size[0], 2 * size[1])
    coarse = _periodic_noise(rng, canvas, sigma=rng.uniform(6.0, 10.0))
    fine = _periodic_noise(rng, canvas, sigma=rng.uniform(2.0, 3.0))
    value = np.clip(0.55 + 0.14 * coarse + 0.07 * fine, 0.1, 0.95)
    hue = (rng.uniform(0.0, 360.0) + 25.0 * coarse) % 360.0
    # Low saturation keeps the background apart from the saturated object classes.
    saturation = np.full(canvas, rng.uniform(0.05, 0.25))
    return hsv_to_rgb(hue, saturation, value)


def _pattern(name: str, rng: np.random.Generator, side: int) -> np.ndarray:
    """Binary-ish class pattern in [0, 1] on a (side, side) texture, random phase/orientation."""
    period = rng.uniform(9.0, 12.0)
    angle = rng.uniform(0.0, np.pi)
    y, x = np.mgrid[0:side, 0:side].astype(np.float64) - (side - 1) / 2.0
    u = (x * np.cos(angle) + y * np.sin(angle)) / period + rng.uniform()
    w = (-x * np.sin(angle) + y * np.cos(angle)) / period + rng.uniform()
    fu, fw = u % 1.0 - 0.5, w % 1.0 - 0.5
    if name == "checker":
        out = (np.floor(u) + np.floor(w)) % 2
    elif name == "stripes":
        out = fu > 0.0
    elif name == "dots":
        out = fu * fu + fw * fw < 0.3**2
    elif name == "rings":
        out = (np.hypot(x, y) / period + rng.uniform()) % 1.0 < 0.5
    elif name == "grid":
        out = np.minimum(np.abs(fu), np.abs(fw)) > 0.32
    else:
        raise ValueError(f"unknown pattern {name!r}")
    out = out.astype(np.float32)
    return cv2.GaussianBlur(out, (0, 0), _TEXTURE_SIGMA, borderType=cv2.BORDER_REFLECT)


def _object_texture(rng: np.random.Generator, cls: int, side: int) -> np.ndarray:
    """Saturated class-hue texture whose brightness follows the class pattern."""
    pattern = _pattern(class_pattern(cls), rng, side)
    hue = (class_hue(cls) + rng.uniform(-6.0, 6.0)) % 360.0
    saturation = rng.uniform(0.75, 0.95)
    value = 0.35 + 0.65 * pattern
    return hsv_to_rgb(np.full_like(pattern, hue), np.full_like(pattern, saturation), value)


def _motion_time(seed: int, num_frames: int, motion: str) -> np.ndarray:
    """Motion clock tau(t) of a sequence: layers sit where constant motion puts them at time tau.

    steady, chairs: tau = t. bursty: stretches of 3-8 frames alternate between near-still (speed
    0.05-0.2) and fast (speed 2-3.5); drawn from its own generator, so the scene is the same.
    """
    if motion != "bursty":
        return np.arange(num_frames, dtype=np.float64)
    rng = np.random.default_rng([seed, 1])
    speeds, fast = [], bool(rng.integers(2))
    while len(speeds) < num_frames - 1:
        speeds += [rng.uniform(2.0, 3.5) if fast else rng.uniform(0.05, 0.2)] * int(rng.integers(3, 9))
        fast = not fast
    return np.concatenate([[0.0], np.cumsum(speeds[:num_frames - 1])])


def _speed(r: _Ranges, size: tuple[int, int]) -> float:
    """Pixel-speed factor of a regime at a frame size."""
    return size[0] / 240.0 if r.height_scaled else 1.0


def _background_layer(rng: np.random.Generator, tau: np.ndarray, size: tuple[int, int], r: _Ranges) -> _Layer:
    """Tiling background translating at a constant velocity, with optional zoom (and rotation)."""
    h, w = size
    texture = _background_texture(rng, size)
    velocity = rng.uniform(-r.bg_speed, r.bg_speed, size=2) * _speed(r, size)
    zoom = rng.uniform(-r.bg_zoom, r.bg_zoom) if rng.uniform() < 0.5 else 0.0
    offset = rng.uniform(0.0, [texture.shape[1], texture.shape[0]])
    spin = rng.uniform(-r.bg_spin, r.bg_spin) if r.bg_spin else 0.0  # no draw: older regimes keep their scenes
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    affines = []
    for t in tau:
        # p = centre + scale * R (q - offset) + velocity * t: zoom and rotation about the image centre.
        m = _similarity(np.exp(zoom * t), spin * t, 0.0, 0.0)
        m[:, 2] = centre + velocity * t - m[:, :2] @ offset
        affines.append(m)
    return _Layer(texture, 0, "plane", (0.0, 0.0), (1.0, 1.0), np.stack(affines), wrap=True)


def _object_layer(rng: np.random.Generator, cls: int, tau: np.ndarray, size: tuple[int, int], r: _Ranges) -> _Layer:
    """A class-textured shape moving with its own velocity, slow rotation and scale change."""
    h, w = size
    shape = SHAPES[rng.integers(len(SHAPES))]
    radius = rng.uniform(0.12, 0.26) * min(h, w)
    if shape == "disc":
        half_axes = (radius, radius)
    else:
        half_axes = (radius, radius * rng.uniform(0.45, 0.85))
    side = int(np.ceil(2 * max(half_axes))) + 9
    texture = _object_texture(rng, cls, side)
    centre = ((side - 1) / 2.0, (side - 1) / 2.0)
    # Place the object inside the frame at mid-sequence so it is seen for a while;
    # it may enter or leave the frame near the ends.
    t_mid = np.interp((len(tau) - 1) / 2.0, np.arange(len(tau)), tau)
    position = rng.uniform([0.1 * w, 0.1 * h], [0.9 * w, 0.9 * h])
    velocity = rng.uniform(-r.obj_speed, r.obj_speed, size=2) * _speed(r, size)
    angle0, spin = rng.uniform(0.0, 2 * np.pi), rng.uniform(-r.obj_spin, r.obj_spin)
    growth = rng.uniform(-r.obj_growth, r.obj_growth)
    affines = []
    for t in tau:
        scale, angle = np.exp(growth * (t - t_mid)), angle0 + spin * t
        pos = position + velocity * (t - t_mid)
        # p = pos + scale * R(angle) (q - centre)
        m = _similarity(scale, angle, 0.0, 0.0)
        m[:, 2] = pos - m[:, :2] @ np.asarray(centre)
        affines.append(m)
    return _Layer(texture, cls, shape, centre, half_axes, np.stack(affines), wrap=False)


def _object_classes(rng: np.random.Generator, count: int, num_classes: int) -> list[int]:
    """Random object classes, cycling through shuffled class lists so a sequence mixes classes."""
    classes: list[int] = []
    while len(classes) < count:
        classes.extend(int(c) + 1 for c in rng.permutation(num_classes - 1))
    return classes[:count]


def _build_scene(rng: np.random.Generator, tau: np.ndarray, size: tuple[int, int], num_classes: int,
                 r: _Ranges) -> list[_Layer]:
    """Background plus objects (2..4; chairs 4..7) in painter's order (later layers on top), timed by tau."""
    layers = [_background_layer(rng, tau, size, r)]
    count = int(rng.integers(*r.objects))
    for cls in _object_classes(rng, count, num_classes):
        layers.append(_object_layer(rng, cls, tau, size, r))
    return layers


def _render(layers: list[_Layer], num_frames: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Render frames, labels, backward flow, occlusion and top-layer ids of a scene."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = np.zeros((num_frames, h, w, 3), np.uint8)
    labels = np.zeros((num_frames, h, w), np.uint8)
    flow = np.zeros((num_frames, h, w, 2), np.float32)
    occ = np.zeros((num_frames, h, w), np.uint8)
    layer_ids = np.zeros((num_frames, h, w), np.int32)
    layer_labels = np.array([layer.label for layer in layers], np.uint8)
    for t in range(num_frames):
        ids = _top_layer(layers, t, xs, ys)
        image = np.zeros((h, w, 3), np.float32)
        fx, fy = np.zeros((h, w)), np.zeros((h, w))
        for k, layer in enumerate(layers):
            visible = ids == k
            if not visible.any():
                continue
            inv = _invert_affine(layer.affines[t])
            image[visible] = _sample(layer, *_apply_affine(inv, xs, ys))[visible]
            if t > 0:
                # Surface point at p in frame t lies at T_{t-1}(T_t^{-1}(p)) in frame t-1.
                px, py = _apply_affine(_compose_affine(layer.affines[t - 1], inv), xs, ys)
                fx[visible], fy[visible] = px[visible] - xs[visible], py[visible] - ys[visible]
        if t > 0:
            src_x, src_y = xs + fx, ys + fy
            outside = (src_x < 0) | (src_x > w - 1) | (src_y < 0) | (src_y > h - 1)
            covered = _top_layer(layers, t - 1, src_x, src_y) != ids
            occ[t] = (outside | covered).astype(np.uint8)
            flow[t] = np.stack([fx, fy], axis=-1)
        frames[t] = np.clip(np.round(image), 0, 255).astype(np.uint8)
        labels[t] = layer_labels[ids]
        layer_ids[t] = ids
    return {"frames": frames, "labels": labels, "flow": flow, "occ": occ, "layer_ids": layer_ids}


def _check_args(num_frames: int, size: tuple[int, int], num_classes: int, motion: str) -> tuple[int, int]:
    """Validate generator arguments and return size as a tuple of ints."""
    if motion not in MOTIONS:
        raise ValueError(f"unknown synthetic motion {motion!r}; valid: {', '.join(MOTIONS)}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    h, w = (int(s) for s in size)
    if h < 8 or w < 8:
        raise ValueError(f"size must be at least (8, 8), got {tuple(size)}")
    if not 2 <= num_classes <= 256:
        raise ValueError(f"num_classes must be in [2, 256] (uint8 labels), got {num_classes}")
    return h, w


def generate_sequence(
    seed: int, num_frames: int = 20, size: tuple[int, int] = (96, 128), num_classes: int = 4,
    motion: str = "steady",
) -> dict[str, np.ndarray]:
    """Generate one sequence: frames (T,H,W,3) uint8 RGB, labels, backward flow, occlusion."""
    size = _check_args(num_frames, size, num_classes, motion)
    tau = _motion_time(seed, num_frames, motion)
    rng = np.random.default_rng(seed)
    out = _render(_build_scene(rng, tau, size, num_classes, RANGES[motion]), num_frames, size)
    del out["layer_ids"]
    return out


def sequence_seed(seed: int, index: int) -> int:
    """Seed of the sequence with global index ``index`` in a dataset generated with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _params(
    num_sequences: Mapping[str, int], num_frames: int, size: tuple[int, int], num_classes: int, seed: int,
    motion: str = "steady",
) -> dict:
    """The JSON-able parameter set that determines a generated dataset."""
    return {
        "generator_version": GENERATOR_VERSION,
        "num_sequences": {str(k): int(v) for k, v in num_sequences.items()},
        "num_frames": int(num_frames),
        "size": [int(size[0]), int(size[1])],
        "num_classes": int(num_classes),
        "class_names": class_names(num_classes),
        "seed": int(seed),
        "motion": motion,
    }


def _same_params(a: dict, b: dict) -> bool:
    """True when two parameter sets match, including split order (it fixes sequence numbering)."""
    keys = set(a) | set(b)
    keys.discard("sequences")  # derived, not a parameter
    if any(a.get(k) != b.get(k) for k in keys):
        return False
    return list(a["num_sequences"]) == list(b["num_sequences"])


def _read_meta(out_dir: Path) -> dict | None:
    """Parameters recorded in out_dir/synthetic.json, or None if absent or unreadable."""
    try:
        meta = json.loads((out_dir / "synthetic.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return {"motion": "steady", **meta}  # sets written before the option had steady motion


def _write_sequence(seq_dir: Path, seq: dict[str, np.ndarray]) -> None:
    """Write one sequence's frames, labels, flow and occlusion files."""
    for sub in ("frames", "labels", "flow", "occ"):
        (seq_dir / sub).mkdir(parents=True)
    for t in range(seq["frames"].shape[0]):
        name = f"{t:05d}"
        cv2.imwrite(str(seq_dir / "frames" / f"{name}.png"), cv2.cvtColor(seq["frames"][t], cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(seq_dir / "labels" / f"{name}.png"), seq["labels"][t])
        write_flo(seq_dir / "flow" / f"{name}.flo", seq["flow"][t])
        cv2.imwrite(str(seq_dir / "occ" / f"{name}.png"), (seq["occ"][t] > 0).astype(np.uint8) * 255)


def write_synthetic(
    out_dir: str | os.PathLike,
    num_sequences: Mapping[str, int] = MappingProxyType({"train": 6, "val": 2}),
    num_frames: int = 20,
    size: tuple[int, int] = (96, 128),
    num_classes: int = 4,
    seed: int = 0,
    overwrite: bool = False,
    motion: str = "steady",
) -> Path:
    """Write a synthetic dataset to out_dir/<split>/seqNNN/{frames,labels,flow,occ}; reuse it if present."""
    out_dir = Path(out_dir)
    size = _check_args(num_frames, size, num_classes, motion)
    params = _params(num_sequences, num_frames, size, num_classes, seed, motion)
    existing = _read_meta(out_dir)
    if existing is not None and _same_params(existing, params):
        return out_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder")
    if existing is None and out_dir.is_dir() and any(out_dir.iterdir()):  # --overwrite replaces only dff's own
        raise FileExistsError(f"{out_dir}: is not empty and holds no synthetic.json: not a set dff wrote; not replacing it")
    if existing is not None and out_dir.is_symlink():
        raise FileExistsError(f"{out_dir}: is a link to another folder; give the folder itself to replace that set")
    if existing is not None and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds synthetic data with different parameters: "
            f"existing {_describe(existing)}, requested {_describe(params)}; pass --overwrite to replace it")

    # Generate next to the target and move it into place, so an interrupted run
    # never leaves a half-written dataset that looks complete.
    out = publish(out_dir, folder=True)
    tmp = out.tmp
    try:
        meta = dict(params, sequences={})
        index = 0
        for split, count in params["num_sequences"].items():
            meta["sequences"][split] = []
            for _ in range(count):
                name, seq_seed = f"seq{index:03d}", sequence_seed(seed, index)
                _write_sequence(tmp / split / name, generate_sequence(seq_seed, num_frames, size, num_classes, motion))
                meta["sequences"][split].append({"name": name, "seed": seq_seed})
                index += 1
        (tmp / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
        existing = _read_meta(out_dir)
        if existing is not None and _same_params(existing, params):  # a concurrent writer made the same set
            out.abort()
        else:
            out.commit()
    except BaseException:
        out.abort()
        raise
    return out_dir


def _describe(params: dict) -> str:
    """Short human-readable form of a parameter set for error messages."""
    keys = ("num_sequences", "num_frames", "size", "num_classes", "seed", "motion", "generator_version")
    return json.dumps({k: params.get(k) for k in keys}, sort_keys=False)


