"""Checkpoints: plain dicts of tensors and plain types, written atomically, loaded weights-only;
and the one loader of their weights into a model."""
from __future__ import annotations

import io
import os
import pickle
from collections import Counter
from pathlib import Path

import torch

from ..io.publish import write_atomic


def _synced(data: bytes):
    """A write_atomic writer of data, synced to the disk before the rename (a crash leaves the old
    file or the new one, whole)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return write


def save_checkpoint(obj: dict, *paths: str | Path) -> None:
    """Serialise once in memory (a pickling error touches no file), then write each path atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    for path in paths:
        write_atomic(path, _synced(buf.getbuffer()))


def load_checkpoint(path: str | Path) -> dict:
    """torch.load(weights_only=True) with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's several lines of advice, for a file that is not tensors and plain types
        raise ValueError(f"{path}: not a loadable dff checkpoint: not plain tensors, refused without unpickling "
                         "(torch.load weights_only)") from None
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise ValueError(f"{path}: not a loadable dff checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path}: not a dff checkpoint (no 'model' entry)")
    n = ckpt.get("num_classes")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{path}: num_classes {n!r} is not a class count (an integer >= 1)")
    return ckpt


def load_weights(model: torch.nn.Module, ckpt: dict, path: str | Path, partial: bool = False,
                 skip: str | None = None, only: list[str] | None = None) -> dict:
    """Load the weights of checkpoint `ckpt` (read from `path`) into model; a report of what was
    and was not loaded.

    Exact (partial=False: a trained model for eval or infer): every tensor must fit, or a
    ValueError names the file and the keys. partial (model.load_from: one stage seeds the next,
    a DFF reference into an Accel model, say): what fits by name and shape is loaded, the rest
    reported. Tensors under `skip` (a module name, e.g. a swapped flow net's "flow_net") are
    neither loaded nor required; with `only` (top-level module names), only those are loaded and
    only theirs are reported missing.
    """
    state = ckpt["model"]
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:  # a diverged run's weights would segment silently wrong
        raise ValueError(f"{path}: non-finite weights in {len(bad)} tensors ({', '.join(bad[:4])}"
                         f"{', ...' if len(bad) > 4 else ''})")
    if skip is not None:
        state = {k: v for k, v in state.items() if not k.startswith(skip + ".")}
    if only is not None:
        children = dict(model.named_children())
        bad = [n for n in only if n not in children]
        if bad:
            raise ValueError(f"model.load_modules: unknown module(s) {', '.join(bad)}; valid: {', '.join(children)}")
        state = {k: v for k, v in state.items() if k.split(".")[0] in only}
    own = model.state_dict()
    mismatched = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k not in mismatched},
                                                strict=False)
    if skip is not None:
        missing = [k for k in missing if not k.startswith(skip + ".")]
    if only is not None:
        missing = [k for k in missing if k.split(".")[0] in only]
    report = {"path": str(path), "loaded": len(state) - len(mismatched) - len(unexpected), "missing": list(missing),
              "unexpected": list(unexpected), "mismatched": mismatched}
    bad = [f"{kind} {', '.join(report[kind][:8])}" for kind in ("missing", "unexpected", "mismatched") if report[kind]]
    if bad and not partial:
        raise ValueError(f"{path}: weights do not fit the configured model ({'; '.join(bad)})")
    return report


def describe(report: dict) -> str:
    """A load_weights report in a few lines: tensors loaded, and the others grouped by module."""
    lines = [f"load_from {report['path']}: {report['loaded']} tensors loaded"]
    for kind in ("missing", "unexpected", "mismatched"):
        if report[kind]:
            groups = Counter(k.split(".")[0] for k in report[kind])  # keeps the keys' order
            top = ", ".join(f"{g} ({n})" for g, n in list(groups.items())[:6])
            lines.append(f"  {kind} keys ({len(report[kind])}): {top}")
    return "\n".join(lines)
