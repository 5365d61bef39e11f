"""Datasets by name: their clips, class count, class names and label lookup table."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .labels import build_lut, identity_map
from .folder import folder_clips
from .layouts import camvid_clips, cityscapes_clips
from .palettes import CAMVID_CLASSES, camvid_palette
from .sequences import Clip, davis_clips, synthetic_clips

DATASETS = ("davis", "synthetic", "cityscapes", "camvid", "folder")


def check_dataset(name: str) -> None:
    """Raise on an unknown dataset name, listing the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")


def cityscapes_table() -> list:
    """The cityscapesscripts label table (imported lazily: an optional dependency)."""
    try:
        from cityscapesscripts.helpers.labels import labels
    except ImportError as e:
        raise ImportError("data.dataset=cityscapes needs the cityscapesscripts package: "
                          "pip install dff[cityscapes]") from e
    return labels


def _train_labels() -> list:
    """Cityscapes labels that have a trainId (0..18), in trainId order."""
    return sorted((l for l in cityscapes_table() if 0 <= l.trainId < 255), key=lambda l: l.trainId)


def build_clips(dataset: str, root: str | Path, split: str, split_mode: str = "temporal",
                train_fraction: float = 0.6, context: int | None = None,
                cityscapes_labels: str = "labelIds") -> list[Clip]:
    """Clips of a dataset split by dataset name.

    Args:
        context: frames kept before each labelled frame (cityscapes/camvid: None means 4;
            folder: None keeps whole sequences); unused by davis and synthetic.
        cityscapes_labels: labelIds or labelTrainIds files.
    """
    check_dataset(dataset)
    if dataset == "davis":
        return davis_clips(root, split, split_mode, train_fraction)
    if dataset == "synthetic":
        return synthetic_clips(root, split, split_mode, train_fraction)
    if dataset == "folder":
        return folder_clips(root, split, split_mode, train_fraction, context)
    context = 4 if context is None else context
    if dataset == "cityscapes":
        return cityscapes_clips(root, split, split_mode, context, cityscapes_labels)
    return camvid_clips(root, split, split_mode, context)


def dataset_info(dataset: str, root: str | Path, num_classes: int | None = None) -> dict:
    """num_classes and class names of a dataset (and its standard palette where it has one).

    Args:
        num_classes: the folder layout's class count (data.num_classes); others know theirs.
    """
    check_dataset(dataset)
    if dataset == "davis":
        return {"num_classes": 2, "class_names": ["background", "object"]}
    if dataset == "synthetic":
        meta = Path(root) / "synthetic.json"
        if not meta.is_file():
            raise FileNotFoundError(f"{meta}: missing (create the set with `dff make-synthetic`)")
        info = json.loads(meta.read_text())
        return {"num_classes": int(info["num_classes"]), "class_names": list(info["class_names"])}
    if dataset == "cityscapes":
        train = _train_labels()
        return {"num_classes": len(train), "class_names": [l.name for l in train],
                "palette": [tuple(l.color) for l in train]}
    if dataset == "camvid":
        return {"num_classes": 11, "class_names": list(CAMVID_CLASSES),
                "palette": [tuple(c) for c in camvid_palette().tolist()]}
    if num_classes is None:
        raise ValueError("dataset folder needs data.num_classes")
    return {"num_classes": int(num_classes), "class_names": [f"class{i}" for i in range(int(num_classes))]}


def label_lut(dataset: str, num_classes: int, ignore_index: int = 255, label_map: dict | None = None,
              cityscapes_labels: str = "labelIds") -> np.ndarray:
    """Raw label value -> class id table of a dataset (see labels.build_lut).

    Args:
        label_map: folder layout only: raw value -> class id (unlisted values other than
            ignore_index are errors); None means raw values are the class ids.
    """
    check_dataset(dataset)
    if label_map is not None and dataset != "folder":
        raise ValueError(f"data.label_map applies to dataset folder only, not {dataset}")
    if dataset == "davis":
        mapping = {0: 0, 255: 1}
    elif dataset == "cityscapes" and cityscapes_labels == "labelIds":
        mapping = {l.id: l.trainId if 0 <= l.trainId < 255 else ignore_index
                   for l in cityscapes_table() if l.id >= 0}
    elif dataset == "camvid":
        mapping = {**{i: i for i in range(11)}, 11: ignore_index}
    elif label_map is not None:
        mapping = {ignore_index: ignore_index, **{int(k): int(v) for k, v in label_map.items()}}
    else:  # synthetic, folder and cityscapes labelTrainIds (whose files mark ignored pixels 255)
        raw_ignore = 255 if dataset == "cityscapes" else ignore_index
        mapping = {**identity_map(num_classes, raw_ignore), raw_ignore: ignore_index}
    return build_lut(mapping, num_classes, ignore_index)
