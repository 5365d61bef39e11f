"""Per-frame label maps as palette PNGs in a folder (00000.png, 00001.png, ...), written atomically.

The PNGs hold class ids (mode "P", so viewers show the palette colours and readers get ids).
They are written to a temp folder beside the target that replaces it only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.palettes import png_palette
from .outputs import MARKER, mark, naming, remove_stale_temps
from .publish import Publication
from .video_writer import CommitOnExit


def _check_replaceable(path: Path, overwrite: bool) -> None:
    """Refuse a non-folder, a non-empty folder without overwrite, one holding more than label
    PNGs, or one dff did not write (no outputs.MARKER: a folder of input frames, say)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise FileExistsError(f"{path}: exists and is not a folder")
    entries = [p for p in path.iterdir() if p.name != MARKER]
    if entries and not overwrite:
        raise FileExistsError(f"{path}: already holds {len(entries)} entries; pass overwrite "
                              "(--overwrite) to replace the folder")
    others = [p.name for p in entries if not (p.is_file() and p.suffix.lower() == ".png")]
    if others:  # overwrite replaces label folders, never a folder with anything else in it
        raise FileExistsError(f"{path}: holds more than label PNGs ({', '.join(sorted(others)[:3])}"
                              f"{', ...' if len(others) > 3 else ''}); not replacing it")
    if entries and not (path / MARKER).is_file():
        raise FileExistsError(f"{path}: holds PNGs dff did not write (no {MARKER}); not replacing it")


class LabelPngWriter(CommitOnExit):
    """Write (H, W) integer label maps as palette PNGs numbered by frame into `path`."""

    def __init__(self, path: str | os.PathLike, palette: np.ndarray, size: tuple[int, int],
                 overwrite: bool = False) -> None:
        self.path, self.size, self.overwrite = Path(path), (int(size[0]), int(size[1])), overwrite
        if len(palette) > 256:
            raise ValueError(f"{self.path}: a PNG palette holds 256 colours, got {len(palette)}")
        self._palette = png_palette(palette)
        _check_replaceable(self.path, overwrite)
        remove_stale_temps(self.path.parent, self.path.name)  # a killed earlier write's
        self._out = Publication(self.path, folder=True, verify=self._verify)
        mark(self._out.tmp)
        self.frames_written = 0

    def write(self, labels: np.ndarray) -> None:
        """Save one (H, W) label map with ids 0..255 as the next numbered PNG."""
        if self._out.tmp is None:
            raise ValueError(f"{self.path}: writer is closed")
        if labels.shape != self.size or labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
            raise ValueError(f"{self.path}: labels have shape {labels.shape} and range "
                             f"[{labels.min()}, {labels.max()}], expected {self.size} in 0..255")
        img = Image.fromarray(labels.astype(np.uint8))
        img.putpalette(self._palette)  # turns the "L" image into "P" with these colours
        with naming(self.path):
            img.save(self._out.tmp / f"{self.frames_written:05d}.png")
        self.frames_written += 1

    def abort(self) -> None:
        """Delete the temp folder, leaving `path` untouched."""
        self._out.abort()

    def _verify(self, tmp: Path) -> None:
        """Every PNG is there and opens as a palette image of the expected size; the target is still
        one that may be replaced (it may have changed while we wrote)."""
        files = sorted(f for f in tmp.iterdir() if f.name != MARKER)
        if len(files) != self.frames_written or not files:
            raise ValueError(f"{self.path}: wrote {self.frames_written} label PNGs, found {len(files)}")
        for f in (files[0], files[-1]):
            with Image.open(f) as im:
                if im.mode != "P" or im.size[::-1] != self.size:
                    raise ValueError(f"{f}: reads back as {im.mode} {im.size[::-1]}, expected P {self.size}")
        _check_replaceable(self.path, self.overwrite)

    def close(self) -> None:
        """Verify the PNGs, then swap the temp folder in for `path` (idempotent)."""
        self._out.commit()
