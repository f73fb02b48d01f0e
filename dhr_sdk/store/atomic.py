"""Atomic edits of an HDF5 file: work on a sibling copy, then ``os.replace`` it into place.

A crash or kill at any moment leaves either the old file or the new one, never a
half-written file under the store's name. One writer at a time per store is assumed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import h5py


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale_temps(target: Path) -> None:
    """Delete temp copies left by writers that were killed (their PID is gone)."""
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, PermissionError, IndexError):
            continue


@contextlib.contextmanager
def atomic_edit(path: str | Path, *, new: bool = False) -> Iterator[h5py.File]:
    """Yield a writable ``h5py.File`` on a temporary copy of ``path``; replace on success.

    With ``new=True`` the copy starts empty (the file is created or overwritten).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if target.exists() and not new:
            shutil.copyfile(target, tmp)
        with h5py.File(tmp, "a" if tmp.exists() else "w") as h5:
            yield h5
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()
