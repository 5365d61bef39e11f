"""One output policy for everything dff writes (run folders, --json files, videos, label folders).

Nothing existing is replaced without --overwrite; nothing is written onto or into an input; and
--overwrite replaces only what dff itself wrote: run and label folders carry a MARKER file.
Checks run before any work, so a refusal costs seconds, not a finished evaluation.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

MARKER = ".dff-output"

# The hidden temp names dff's writers use beside a target NAME; a kill -9 leaves them behind.
_TEMP_NAMES = (r"\.{name}\.tmp-[0-9a-f]{{8}}(\.\w+)?",    # publish.temp_sibling (+ a video's container suffix)
               # those of earlier versions: checkpoints, videos (mkstemp), --json files (a process id)
               r"\.{name}\.[a-z0-9_]{{8}}\.tmp", r"\.{name}\.tmp-[a-z0-9_]{{8}}\.\w+", r"\.{name}\.tmp-\d+")


@contextmanager
def naming(path: str | os.PathLike):
    """OS errors raised inside name `path` (a failed write() carries no file name): one line with
    the path and the operating system's reason, e.g. "[Errno 28] No space left on device: 'x.pt'"."""
    try:
        yield
    except OSError as e:
        temp = e.filename is not None and Path(os.fsdecode(e.filename)).name.startswith(f".{Path(path).name}.")
        if e.errno is not None and (e.filename is None or temp):  # the user's path, not dff's temp file
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise


def mark(folder: str | os.PathLike) -> None:
    """Mark a folder as dff's own output (what --overwrite may replace)."""
    (Path(folder) / MARKER).write_text("written by dff; --overwrite may replace this folder\n")


# What a `dff train` run folder holds (and the hidden temps of its writers).
_RUN_FILES = re.compile(r"config\.yaml|last\.pt|best\.pt|ckpt_\d+\.pt|metrics\.jsonl|load_from\.json|tb|\..+")


def is_ours(folder: Path) -> bool:
    """A folder dff wrote: its marker, or a run folder of an earlier version (a config.yaml and
    nothing but a run's files)."""
    if (folder / MARKER).is_file():
        return True
    return (folder / "config.yaml").is_file() and all(_RUN_FILES.fullmatch(p.name) for p in folder.iterdir())


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def refuse_inputs(output: str | os.PathLike, inputs: dict) -> None:
    """FileExistsError when output is one of the inputs (name -> path or None), or lies inside an
    input folder, or holds an input."""
    out = Path(output).resolve()
    for what, path in inputs.items():
        if path is None or isinstance(path, int):  # absent, or a webcam index
            continue
        src = Path(path).resolve()
        if _inside(out, src) or _inside(src, out):
            raise FileExistsError(f"{output}: is or overlaps the {what} ({path}); dff never writes onto its inputs")


def is_json(path: Path) -> bool:
    """A file holding one JSON document (what dff's --json outputs are; they are far under 64 MB)."""
    try:
        if path.stat().st_size > 1 << 26:
            return False
        json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return True


def check_file(path: str | os.PathLike, overwrite: bool, inputs: dict | None = None, kind=None) -> None:
    """An output file path dff may write: not an input, not a folder, not existing unless overwrite;
    kind: (name, test), e.g. ("JSON", is_json): only a file passing test is replaced."""
    refuse_inputs(path, inputs or {})
    p = Path(path)
    if p.is_dir():
        raise FileExistsError(f"{p}: is a folder; give a file path")
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p}: already exists; pass --overwrite to replace it")
    if p.exists() and kind is not None and not kind[1](p):
        raise FileExistsError(f"{p}: is not a {kind[0]} file; --overwrite replaces only an earlier output")


def remove_stale_temps(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove the temp files and folders a killed dff left in folder (those of target `name`
    only, or of any); the removed paths."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = [t.format(name=re.escape(name) if name else ".+") for t in _TEMP_NAMES]
    if name and (folder / name).exists():  # a replaced label folder set aside; without the target it is the only copy
        names.append(rf"\.{re.escape(name)}\.old-[0-9a-f]{{8}}")
    pattern = re.compile("|".join(names))
    stale = [p for p in folder.iterdir() if pattern.fullmatch(p.name)]
    for p in stale:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
    return stale


RESUMING = "resuming in it (to start from a checkpoint there: --resume PATH and a new --work-dir)"


def refuse_foreign_run_dir(work_dir: str | os.PathLike, doing: str = "writing into it") -> None:
    """FileExistsError unless work_dir is new, empty or a folder dff wrote (`is_ours`): a run never
    writes, prunes or sweeps temps in someone else's folder."""
    work_dir = Path(work_dir)
    if work_dir.is_dir() and any(work_dir.iterdir()) and not is_ours(work_dir):
        raise FileExistsError(f"{work_dir}: is not a dff run folder (no {MARKER}); not {doing}")


def prepare_run_dir(work_dir: str | os.PathLike, resume, overwrite: bool, inputs: dict | None = None) -> None:
    """A run folder `dff train` may write into: new or empty; with --resume, one dff wrote (temp
    files of a killed run in it are removed); with --overwrite, an earlier dff run, removed
    entirely first (no file of it stays beside the new one's), unless it holds one of the run's
    inputs (name -> path, str or list, or None). A folder dff did not write is never written into."""
    work_dir = Path(work_dir)
    if work_dir.exists() and not work_dir.is_dir():
        raise FileExistsError(f"{work_dir}: exists and is not a folder")
    listed = [(what, path) for what, paths in (inputs or {}).items()
              for path in ([paths] if isinstance(paths, (str, os.PathLike)) else paths or ())]
    for what, path in listed:
        if Path(path).is_dir() and _inside(work_dir.resolve(), Path(path).resolve()):
            raise FileExistsError(f"{work_dir}: lies in the {what} this run reads ({path}); dff never writes "
                                  "into its inputs")
    if not work_dir.exists() or not any(work_dir.iterdir()):
        return
    if not resume and not overwrite:
        raise FileExistsError(f"{work_dir}: holds an earlier run; continue it with --resume auto, or start "
                              "afresh with --overwrite (removes that run's files)")
    refuse_foreign_run_dir(work_dir, RESUMING if resume else "replacing it")
    if resume:
        stale = remove_stale_temps(work_dir)
        if stale:
            print(f"{work_dir}: removed {len(stale)} temp file(s) of an interrupted run ({stale[0].name}, ...)")
        return
    for what, path in listed:
        if _inside(Path(path).resolve(), work_dir.resolve()):
            raise FileExistsError(f"{work_dir}: holds the {what} this run reads ({path}); --overwrite would "
                                  "remove it: not replacing the folder")
    shutil.rmtree(work_dir)
