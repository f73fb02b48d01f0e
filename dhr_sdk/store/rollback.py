"""Undoing an in-place edit that was killed part-way (see :mod:`dhr_sdk.store.journal`).

Kept apart from the journal's writer so that the copy-and-replace writer
(:mod:`dhr_sdk.store.atomic`) can recover a store before copying it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from dhr_sdk.store.errors import StoreWriteError

MAGIC = b"DHRJ1\n"
TRAILER = b"COMMIT"


def _target(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (fsync of the folder; best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def journal_path(store: str | Path) -> Path:
    target = _target(store)
    return target.with_name(f".{target.name}.journal")


def _read_journal(path: Path) -> tuple[int, list[tuple[int, bytes]]] | None:
    """The old length and pages of a complete journal; None when it is incomplete."""
    raw = path.read_bytes()
    body, digest, tail = raw[:-38], raw[-38:-6], raw[-6:]
    if tail != TRAILER or not body.startswith(MAGIC) or \
            hashlib.sha256(body).digest() != digest:
        return None
    old_size, count = struct.unpack_from("<QQ", body, len(MAGIC))
    at, pages = len(MAGIC) + 16, []
    for _ in range(count):
        offset, length = struct.unpack_from("<QQ", body, at)
        pages.append((offset, body[at + 16:at + 16 + length]))
        at += 16 + length
    return old_size, pages


@contextlib.contextmanager
def _locked(path: Path, mode: int, flags: int) -> Iterator[int]:
    fd = os.open(path, flags)
    try:
        fcntl.flock(fd, mode)
        yield fd
    finally:
        os.close(fd)


def roll_back(target: Path, journal: Path) -> None:
    found = _read_journal(journal)
    if found is not None:  # the store may be half-written: put the old pages back
        old_size, pages = found
        with open(target, "r+b") as fh:
            for offset, old in pages:
                fh.seek(offset)
                fh.write(old)
            fh.truncate(old_size)
            fh.flush()
            os.fsync(fh.fileno())
    journal.unlink()
    fsync_dir(journal.parent)


def recover(store: str | Path) -> None:
    """Undo an in-place edit that was killed part-way (no-op without a journal)."""
    journal = journal_path(store)
    if not journal.exists():
        return
    target = _target(store)
    try:
        with _locked(target, fcntl.LOCK_EX, os.O_RDWR):
            if journal.exists():
                roll_back(target, journal)
    except OSError as exc:
        raise StoreWriteError(
            f"{store} has an unfinished in-place write ({journal.name}) that cannot be undone "
            f"here: {exc.strerror or exc}; run any dhr command on it with write "
            "permission") from None


