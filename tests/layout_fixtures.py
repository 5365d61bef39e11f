"""Tiny DAVIS, Cityscapes, CamVid and folder datasets in their exact on-disk layouts (written per test).

Every frame is filled with its frame number (mod 256), so a sample shows which frame it holds.
"""
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

H, W = 8, 12


def frame_image(path: Path, number: int, size=(H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), number % 256, np.uint8)).save(path)


def label_image(path: Path, values, size=(H, W), dtype=np.uint8) -> np.ndarray:
    """A label whose rows cycle through values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.array([values[r % len(values)] for r in range(size[0])], dtype)[:, None].repeat(size[1], 1)
    Image.fromarray(arr).save(path)
    return arr


def make_cityscapes(root: Path, kind: str = "labelIds") -> Path:
    """train: aachen 000003 labelled at 119 (frames 100..129, 116 missing) and bremen 000000 at
    19 (frames 0..29); val: zurich 000001 at 19. labelIds hold ids 0, 7, 8, 26, 33."""
    snippets = {("train", "aachen", 3): 119, ("train", "bremen", 0): 19, ("val", "zurich", 1): 19}
    values = [0, 7, 8, 26, 33] if kind == "labelIds" else [255, 0, 1, 13, 18]
    for (split, city, seq), lab in snippets.items():
        for n in range(lab - 19, lab + 11):
            if (city, n) != ("aachen", 116):
                frame_image(root / "leftImg8bit_sequence" / split / city /
                            f"{city}_{seq:06d}_{n:06d}_leftImg8bit.png", n)
        label_image(root / "gtFine" / split / city / f"{city}_{seq:06d}_{lab:06d}_gtFine_{kind}.png", values)
        # colour and instance files of the real set lie beside the labels and must be skipped
        frame_image(root / "gtFine" / split / city / f"{city}_{seq:06d}_{lab:06d}_gtFine_color.png", 0)
    return root


CAMVID = {"0001TP": range(6680, 6700), "Seq05VD": range(0, 40)}


def camvid_frame_name(seq: str, n: int) -> str:
    return f"{seq}_{n:06d}.png" if seq == "0001TP" else f"{seq}_f{n:05d}.png"


def make_camvid(root: Path) -> Path:
    """Frames of two sequences; train labels 0001TP 6690 and Seq05VD 30, val label Seq05VD 3."""
    for seq, numbers in CAMVID.items():
        for n in numbers:
            frame_image(root / "frames" / seq / camvid_frame_name(seq, n), n)
    lists = {"train": [("0001TP", 6690), ("Seq05VD", 30)], "val": [("Seq05VD", 3)]}
    for split, items in lists.items():
        lines = []
        for seq, n in items:
            name = camvid_frame_name(seq, n)
            label_image(root / f"{split}annot" / name, [0, 3, 10, 11])
            lines.append(f"/SegNet/CamVid/{split}/{name} /SegNet/CamVid/{split}annot/{name}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def make_folder(root: Path) -> Path:
    """Sequences walk (frames 1..12, labels raw 10/20/30 on 3, 7, 11) and run (frames 0..4 and
    9..11, a gap, labels on 4 and 10); splits list walk for train, run for val."""
    frames = {"walk": list(range(1, 13)), "run": [0, 1, 2, 3, 4, 9, 10, 11]}
    labels = {"walk": [3, 7, 11], "run": [4, 10]}
    for seq, numbers in frames.items():
        for n in numbers:
            frame_image(root / "frames" / seq / f"img_{n:04d}.png", n)
        for n in labels[seq]:
            label_image(root / "labels" / seq / f"img_{n:04d}.png", [10, 20, 30])
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("walk\n")
    (root / "splits" / "val.txt").write_text("run\n")
    return root


DAVIS_SEQS = {"alpha": 10, "beta": 7}


def make_noise_davis(root: Path, missing=(), bad_size=()) -> Path:
    """Tiny DAVIS-2016 layout of 24x32 noise frames; `missing` frames get no mask, `bad_size` a mask of the wrong size."""
    rng = np.random.default_rng(0)
    for name, n in DAVIS_SEQS.items():
        img_dir, ann_dir = root / "JPEGImages" / "480p" / name, root / "Annotations" / "480p" / name
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        for t in range(n):
            img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            img[:4, :4] = (0, 0, 255)  # pure red corner (BGR) to check the RGB conversion
            cv2.imwrite(str(img_dir / f"{t:05d}.jpg"), img)
            if (name, t) in missing:
                continue
            mask = np.where(rng.random((24, 32)) < 0.4, 255, 0).astype(np.uint8)
            if (name, t) in bad_size:
                mask = mask[:-2]
            cv2.imwrite(str(ann_dir / f"{t:05d}.png"), mask)
    sets = root / "ImageSets" / "2016"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("alpha\n")
    (sets / "val.txt").write_text("beta\n")
    return root
