"""Atomic writes of HDF5 stores: work on a private sibling copy, then ``os.replace`` it.

A crash, a ``kill -9``, a full disk or a read-only folder at any moment leaves either the
old file or the new one, never a half-written file under the store's name. One writer at
a time per store is assumed.

- :func:`atomic_edit` is one edit (``Store.edit``): copy, modify, replace.
- :func:`staged` is one *command*: every edit of the working copy it yields lands in that
  copy directly, and the store is replaced once, when the whole command succeeded (``dhr
  build`` writes features, model, codes, graph, rank and importance list this way).

The replacement keeps the store's permission bits and owner, and writing through a
symbolic link replaces the link's target (the link stays). Failures of the file system
(no space, read-only, no permission) become one :class:`StoreWriteError` line naming the
store; before copying or writing a dataset the free space is checked, because HDF5 can
crash the process when the disk fills up under it.
"""

from __future__ import annotations

import contextlib
import errno as errnos
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import h5py

from dhr_sdk.store.errors import StoreWriteError
from dhr_sdk.store.rollback import fsync_dir

HEADROOM = 1 << 20
"""Bytes kept free beyond a write's own size (HDF5 metadata, the file system's slack)."""

IO_ERRNOS = {errnos.ENOSPC, errnos.EDQUOT, errnos.EROFS, errnos.EACCES, errnos.EPERM,
             errnos.EIO, errnos.EFBIG}
_HINTS = {errnos.ENOSPC: "free some space or write the store elsewhere",
          errnos.EDQUOT: "free some space or write the store elsewhere",
          errnos.EROFS: "write the store elsewhere",
          errnos.EACCES: "check the permissions of the store and its folder",
          errnos.EPERM: "check the permissions of the store and its folder"}

_SHOWN: dict[str, Path] = {}
"""Temporary copies being written -> the store path they will replace (for messages)."""
_STAGED: set[str] = set()
"""Working copies of :func:`staged` commands (edited in place)."""
_POISONED: set[str] = set()


def real_target(path: str | Path) -> Path:
    """The file a write to ``path`` must replace: the final target of a symbolic link."""
    return Path(os.path.realpath(path))


def display_path(path: str | Path) -> Path:
    """The store a path stands for in messages (a staged working copy shows its store)."""
    return _SHOWN.get(os.path.realpath(path), Path(path))


def _staged(path: str | Path) -> bool:
    return os.path.realpath(path) in _STAGED


def free_bytes(directory: str | Path) -> int | None:
    """Bytes an unprivileged writer may still use in ``directory`` (None: unknown)."""
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def ensure_space(file: str | Path, nbytes: int, what: str) -> None:
    """Refuse a write of ``nbytes`` into ``file`` that would leave the disk (nearly) full."""
    directory = Path(file).parent
    free = free_bytes(directory)
    if free is not None and nbytes + HEADROOM > free:
        raise StoreWriteError(
            f"cannot write {display_path(file)}: not enough free space in {directory} for "
            f"{what} ({_mb(nbytes)} needed, {_mb(free)} free); the store was not changed; "
            f"{_HINTS[errnos.ENOSPC]}")


def io_errno(exc: BaseException) -> int | None:
    """The file-system errno behind an OSError or an HDF5 error message, if any."""
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    code = exc.errno if isinstance(exc, OSError) else None
    if not code:
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    return code if code in IO_ERRNOS else None


def write_error(store: str | Path, code: int, existed: bool) -> StoreWriteError:
    kept = "the store was not changed" if existed else "nothing was written"
    hint = _HINTS.get(code)
    return StoreWriteError(f"cannot write {display_path(store)}: {os.strerror(code)}; {kept}"
                           + (f"; {hint}" if hint else ""))


@contextlib.contextmanager
def _io_errors(store: str | Path, existed: bool) -> Iterator[None]:
    """File-system failures inside the block as one :class:`StoreWriteError`."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        code = io_errno(exc)
        if code is None:
            raise
        raise write_error(store, code, existed) from None


def _remove_stale_temps(target: Path) -> None:
    """Delete temp copies left by writers that were killed (their PID is gone)."""
    with contextlib.suppress(OSError):
        for tmp in target.parent.glob(f".{target.name}.tmp-*"):
            try:
                pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-")[0])
                os.kill(pid, 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            except (ValueError, PermissionError, IndexError):
                continue


def _recover(path: str | Path, existed: bool) -> None:
    """Undo an in-place edit killed part-way before copying the store (journal.py)."""
    if existed:
        from dhr_sdk.store.rollback import recover

        recover(path)


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _create_private(path: Path) -> None:
    """Create ``path`` empty, readable by its owner only until it is committed."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _match_mode_and_owner(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the mode and owner of ``target`` (a new file: the umask's default)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~_umask())
        return
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except PermissionError:  # not root: keep at least the group when we belong to it
            with contextlib.suppress(PermissionError):
                os.chown(tmp, -1, st.st_gid)
    os.chmod(tmp, stat.S_IMODE(st.st_mode))


def _commit(tmp: Path, target: Path, store: str | Path, existed: bool) -> None:
    with _io_errors(store, existed):
        _match_mode_and_owner(tmp, target)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    fsync_dir(target.parent)


def _prepare_copy(target: Path, tmp: Path, store: str | Path, copy: bool) -> None:
    """``tmp`` created private, holding a copy of ``target`` when ``copy``."""
    with _io_errors(store, target.exists()):
        _create_private(tmp)
        if copy:
            ensure_space(tmp, target.stat().st_size, "a working copy of the store")
            shutil.copyfile(target, tmp)


def _abandon(h5: h5py.File, tmp: Path) -> None:
    """Close a failed file without letting HDF5 flush into a full disk (it can crash)."""
    with contextlib.suppress(OSError):
        os.truncate(tmp, 0)
    with contextlib.suppress(Exception):
        h5.close()


@contextlib.contextmanager
def _open_h5(tmp: Path, mode: str, store: str | Path, existed: bool) -> Iterator[h5py.File]:
    with _io_errors(store, existed):
        h5 = h5py.File(tmp, mode, rdcc_nbytes=0)  # no chunk cache to flush into a full disk
    try:
        yield h5
        h5.flush()
    except BaseException as exc:
        _abandon(h5, tmp)
        if _staged(tmp):
            _POISONED.add(os.path.realpath(tmp))
        code = io_errno(exc)
        if code is not None:
            raise write_error(store, code, existed) from None
        raise
    with _io_errors(store, existed):
        h5.close()


@contextlib.contextmanager
def atomic_edit(path: str | Path, *, new: bool = False) -> Iterator[h5py.File]:
    """Yield a writable ``h5py.File`` on a temporary copy of ``path``; replace on success.

    With ``new=True`` the copy starts empty (the file is created or overwritten). Inside a
    :func:`staged` command the working copy is edited directly (it is replaced later).
    """
    if _staged(path):
        work = Path(path)
        created = not work.exists()
        if created:
            with _io_errors(path, False):
                _create_private(work)
        with _open_h5(work, "w" if new or created else "a", path, True) as h5:
            yield h5
        return
    target = real_target(path)
    existed = target.exists()
    with _io_errors(path, existed):
        target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    _recover(path, existed)
    tmp = _temp_name(target)
    _SHOWN[str(tmp)] = Path(path)
    try:
        _prepare_copy(target, tmp, path, existed and not new)
        with _open_h5(tmp, "a" if existed and not new else "w", path, existed) as h5:
            yield h5
        _commit(tmp, target, path, existed)
    finally:
        _SHOWN.pop(str(tmp), None)
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def staged(path: str | Path, *, new: bool = False) -> Iterator[Path]:
    """One write per command: yield a working copy of the store ``path`` (absent when the
    store is, empty with ``new=True``); every edit of it lands in it directly; when the
    block ends without an error it replaces ``path`` once (nothing is written when the
    block wrote nothing). Nested calls on the working copy yield it unchanged.
    """
    if _staged(path):
        yield Path(path)
        return
    target = real_target(path)
    existed = target.exists()
    with _io_errors(path, existed):
        target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    _recover(path, existed)
    tmp = _temp_name(target)
    key = str(tmp)
    _SHOWN[key] = Path(path)
    _STAGED.add(key)
    try:
        if existed and not new:
            _prepare_copy(target, tmp, path, True)
        yield tmp
        if key in _POISONED:
            raise StoreWriteError(f"a write into {path} failed part-way; the store was not "
                                  "changed")
        if tmp.exists():
            _commit(tmp, target, path, existed)
    finally:
        _SHOWN.pop(key, None)
        _STAGED.discard(key)
        _POISONED.discard(key)
        with contextlib.suppress(OSError):
            tmp.unlink()
