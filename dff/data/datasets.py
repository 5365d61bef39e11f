"""One spec per dataset name (data.dataset): its clips, class names, label table and palette."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .clips import Clip
from .labels import build_lut, identity_map
from .layouts import camvid_clips, cityscapes_clips, davis_clips, folder_clips, synthetic_clips, video_clips
from .palettes import CAMVID_CLASSES


@dataclass(frozen=True)
class DatasetSpec:
    """How dff reads one dataset; the callables take the keyword arguments named below.

    Args:
        clips: (root, split, split_mode, train_fraction, context, cityscapes_labels) -> clips.
            context: frames kept before each sparse label (None: key_interval - 1 for the
            sparse layouts; the folder layout keeps whole sequences).
        classes: (root, num_classes) -> class names.
        labels: (num_classes, ignore_index, label_map, cityscapes_labels) -> {raw value: class id}.
        palette: name of its palettes.PALETTES colours.
    """

    clips: Callable[..., list[Clip]]
    classes: Callable[..., list[str]]
    labels: Callable[..., dict[int, int]]
    palette: str


def cityscapes_table() -> list:
    """The cityscapesscripts label table (imported lazily: an optional dependency)."""
    try:
        from cityscapesscripts.helpers.labels import labels
    except ImportError as e:
        raise ImportError("data.dataset=cityscapes needs the cityscapesscripts package: "
                          "pip install dff[cityscapes]") from e
    return labels


def _synthetic_classes(root, num_classes) -> list[str]:
    meta = Path(root) / "synthetic.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: missing (create the set with `dff make-synthetic`)")
    return list(json.loads(meta.read_text())["class_names"])


def _cityscapes_labels(num_classes, ignore_index, label_map, cityscapes_labels) -> dict[int, int]:
    if cityscapes_labels == "labelIds":  # ids without a trainId (void) are ignored
        return {l.id: l.trainId if 0 <= l.trainId < 255 else ignore_index for l in cityscapes_table() if l.id >= 0}
    return {**identity_map(num_classes, 255), 255: ignore_index}  # labelTrainIds files mark void 255


def _numbered_classes(dataset: str, num_classes) -> list[str]:
    """class0.. for datasets that do not name their classes (a pretrained key network may)."""
    if num_classes is None:
        raise ValueError(f"dataset {dataset} needs data.num_classes (or model.num_classes, or a "
                         "model.key_network with its own classes)")
    return [f"class{i}" for i in range(int(num_classes))]


def _folder_labels(num_classes, ignore_index, label_map, cityscapes_labels) -> dict[int, int]:
    if label_map is None:  # raw values are the class ids
        return {**identity_map(num_classes, ignore_index), ignore_index: ignore_index}
    return {ignore_index: ignore_index, **{int(k): int(v) for k, v in label_map.items()}}


def _sparse_context(context, key_interval) -> int:
    return key_interval - 1 if context is None else context


DATASETS: dict[str, DatasetSpec] = {
    "davis": DatasetSpec(
        clips=lambda root, split, split_mode, train_fraction, context, key_interval, cityscapes_labels:
            davis_clips(root, split, split_mode, train_fraction),
        classes=lambda root, num_classes: ["background", "object"],
        labels=lambda num_classes, ignore_index, label_map, cityscapes_labels: {0: 0, 255: 1},
        palette="voc"),
    "synthetic": DatasetSpec(
        clips=lambda root, split, split_mode, train_fraction, context, key_interval, cityscapes_labels:
            synthetic_clips(root, split, split_mode, train_fraction),
        classes=_synthetic_classes,
        labels=_folder_labels,
        palette="synthetic"),
    "cityscapes": DatasetSpec(
        clips=lambda root, split, split_mode, train_fraction, context, key_interval, cityscapes_labels:
            cityscapes_clips(root, split, split_mode, _sparse_context(context, key_interval), cityscapes_labels),
        classes=lambda root, num_classes: [l.name for l in sorted(
            (l for l in cityscapes_table() if 0 <= l.trainId < 255), key=lambda l: l.trainId)],
        labels=_cityscapes_labels,
        palette="cityscapes"),
    "camvid": DatasetSpec(
        clips=lambda root, split, split_mode, train_fraction, context, key_interval, cityscapes_labels:
            camvid_clips(root, split, split_mode, _sparse_context(context, key_interval)),
        classes=lambda root, num_classes: list(CAMVID_CLASSES),
        labels=lambda num_classes, ignore_index, label_map, cityscapes_labels:
            {**{i: i for i in range(11)}, 11: ignore_index},  # 11: void
        palette="camvid"),
    "folder": DatasetSpec(
        clips=lambda root, split, split_mode, train_fraction, context, key_interval, cityscapes_labels:
            folder_clips(root, split, split_mode, train_fraction, context),
        classes=lambda root, num_classes: _numbered_classes("folder", num_classes),
        labels=_folder_labels,
        palette="voc"),
    # unlabeled footage: no label files, so the table only sizes the class range
    "video": DatasetSpec(
        clips=lambda root, split, split_mode, train_fraction, context, key_interval, cityscapes_labels:
            video_clips(root, split, split_mode, train_fraction),
        classes=lambda root, num_classes: _numbered_classes("video", num_classes),
        labels=_folder_labels,
        palette="voc"),
}


def spec(name: str) -> DatasetSpec:
    """The spec of a dataset name; an unknown name lists the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def build_clips(dataset: str, root: str | Path, split: str, split_mode: str = "temporal",
                train_fraction: float = 0.6, context: int | None = None, cityscapes_labels: str = "labelIds",
                key_interval: int = 5) -> list[Clip]:
    """Clips of a dataset split (context None: key_interval - 1 frames before each sparse label;
    the folder layout then keeps whole sequences)."""
    return spec(dataset).clips(root=root, split=split, split_mode=split_mode, train_fraction=train_fraction,
                               context=context, key_interval=key_interval, cityscapes_labels=cityscapes_labels)


def class_names(dataset: str, root: str | Path, num_classes: int | None = None) -> list[str]:
    """Class names of a dataset (num_classes: data.num_classes of the folder and video datasets)."""
    return spec(dataset).classes(root=root, num_classes=num_classes)


def label_lut(dataset: str, num_classes: int, ignore_index: int = 255, label_map: dict | None = None,
              cityscapes_labels: str = "labelIds") -> np.ndarray:
    """Raw label value -> class id table of a dataset (labels.build_lut: unlisted values are errors).

    Args:
        label_map: folder layout only: raw value -> class id (unlisted values other than
            ignore_index are errors); None means raw values are the class ids.
    """
    labels = spec(dataset).labels
    if label_map is not None and dataset != "folder":
        raise ValueError(f"data.label_map applies to dataset folder only, not {dataset}")
    return build_lut(labels(num_classes=num_classes, ignore_index=ignore_index, label_map=label_map,
                            cityscapes_labels=cityscapes_labels), num_classes, ignore_index)
