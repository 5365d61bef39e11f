"""Publishing a file or folder atomically: it is written at a hidden temp path beside its target,
checked, then moved onto the target in one rename, so an interrupted or failed write never leaves
half an output and never touches the one there. Every writer of dff publishes this way.

    with publish(path) as tmp:                   # a file: write tmp
        tmp.write_bytes(data)
    with publish(folder, folder=True, verify=check) as tmp:  # a folder: fill tmp, check(tmp) runs last
        ...
"""
from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from .outputs import naming


def temp_sibling(path: str | os.PathLike, tag: str = "tmp") -> Path:
    """An unused hidden name beside `path` (same filesystem, so renames are atomic):
    .NAME.tmp-<8 hex digits>."""
    path = Path(path)
    return path.parent / f".{path.name}.{tag}-{secrets.token_hex(4)}"


class Publication:
    """An output being written at `tmp` (a file path, or an empty folder) until commit() moves it
    onto `path` or abort() removes it. A context manager: commit on success, abort on an error.

    Args:
        path: the target file or folder (its parent folder is created).
        folder: the output is a folder; else a file (tmp is created empty either way).
        suffix: appended to tmp's name (a video container picked by its suffix).
        verify: verify(tmp) before the rename; an exception aborts.
    """

    def __init__(self, path: str | os.PathLike, folder: bool = False, suffix: str = "",
                 verify: Callable[[Path], None] | None = None):
        self.path, self.folder, self.verify = Path(path), folder, verify
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_sibling(self.path)
        self.tmp: Path | None = tmp.with_name(tmp.name + suffix)
        if folder:
            self.tmp.mkdir()  # plain mkdir, unlike mkdtemp, gives the umask's permissions
        else:
            self.tmp.touch(exist_ok=False)  # the name reserved (as mkstemp would), the umask's permissions

    def commit(self) -> None:
        """Verify, then move tmp onto path (a folder: the old one set aside, then removed); on any
        error tmp is removed and path left as it was. Idempotent."""
        if self.tmp is None:
            return
        try:
            if self.verify is not None:
                self.verify(self.tmp)
            if self.folder:
                swap_in(self.tmp, self.path)
            else:
                os.replace(self.tmp, self.path)
            self.tmp = None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove tmp, leaving path untouched. Idempotent."""
        tmp, self.tmp = self.tmp, None
        if tmp is None:
            return
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def publish(path: str | os.PathLike, folder: bool = False, suffix: str = "",
            verify: Callable[[Path], None] | None = None) -> Publication:
    """A Publication of path (see there): `with publish(path) as tmp: ...`."""
    return Publication(path, folder, suffix, verify)


def write_atomic(path: str | os.PathLike, write) -> None:
    """write(tmp) puts a file's content at the temp path, published onto `path` (OS errors name
    `path`, not the temp)."""
    with naming(path), publish(path) as tmp:
        write(tmp)


def swap_in(tmp: Path, path: Path) -> None:
    """Put the finished folder tmp in place of path: the old one aside first, so a failed swap can
    put it back, then removed."""
    old = None
    if path.exists():
        old = temp_sibling(path, "old")
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old)
