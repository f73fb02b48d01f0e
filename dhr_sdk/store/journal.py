"""In-place store edits that a crash cannot leave half-done: a rollback journal.

:func:`journaled_edit` opens the store through an in-memory overlay (h5py's ``fileobj``
driver): HDF5 reads the file, and every byte it writes stays in memory until the block
ends. Then, under an exclusive ``flock`` of the store:

1. the original content of every changed page below the old end of file, and the old
   length, go to ``.NAME.journal`` with a SHA-256 trailer; it is fsynced (and its folder);
2. the changed pages are written into the store, which is truncated to its new length and
   fsynced;
3. the journal is deleted (and the folder fsynced): this is the commit.

Pages whose new bytes equal the old ones are neither journaled nor written; consecutive
changed pages form one journal entry and one write (up to :data:`RUN` pages), and the
original bytes of a page are kept from its first read, so the commit reads nothing
again. A store that shrank also journals its old tail. A kill or a
failure before step 2 leaves the store untouched (an incomplete journal, which fails its
trailer, is discarded); a kill during step 2 leaves a complete journal, and the next
open of the store (:func:`recover`, called by every reader and writer) writes the old
pages back and truncates the file: the store is exactly what it was. Readers take a shared
lock while they open, so they never see step 2 in progress. One writer at a time is
assumed, as for the copy-and-replace edits of :mod:`dhr_sdk.store.atomic`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import h5py

from dhr_sdk.store.atomic import ensure_space, io_errno, real_target, write_error
from dhr_sdk.store.rollback import MAGIC, TRAILER, fsync_dir, journal_path, recover, roll_back

__all__ = ["PAGE", "journal_path", "journaled_edit", "recover", "shared_lock"]

PAGE = 1 << 14
RUN = 64
"""Most pages in one journal entry and one write (1 MiB)."""


class _Overlay(io.RawIOBase):
    """A file object over ``fd`` whose writes stay in memory, page by page (the original
    bytes of each page are kept when it is first touched, so the commit compares without
    reading the file again)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.size = self.old_size = os.fstat(fd).st_size
        self.pos = 0
        self.pages: dict[int, bytearray] = {}
        self.original: dict[int, bytes | memoryview] = {}

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def _load(self, first: int, last: int) -> None:
        """Bring pages ``first..last`` into memory, each missing run in one read."""
        page = first
        while page <= last:
            if page in self.pages:
                page += 1
                continue
            end = page
            while end + 1 <= last and end + 1 not in self.pages:
                end += 1
            start = page * PAGE
            old = (os.pread(self.fd, min((end + 1) * PAGE, self.old_size) - start, start)
                   if start < self.old_size else b"")
            view = memoryview(old)
            for p in range(page, end + 1):
                part = view[(p - page) * PAGE:(p - page + 1) * PAGE]  # no copy
                if len(part) == PAGE:
                    buf = bytearray(part)
                else:  # the old end falls in the page, or the page lies after it
                    buf = bytearray(PAGE)
                    buf[:len(part)] = part
                self.pages[p], self.original[p] = buf, part
            page = end + 1

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        n = max(0, min(len(view), self.size - self.pos))
        done = 0
        while done < n:
            at = self.pos + done
            page, off = divmod(at, PAGE)
            k = min(PAGE - off, n - done)
            buf = self.pages.get(page)
            if buf is not None:
                view[done:done + k] = buf[off:off + k]
            else:  # the run of pages not in memory, in one read
                stop, end = self.pos + n, (page + 1) * PAGE
                while end < stop and end // PAGE not in self.pages:
                    end += PAGE
                k = min(end, stop) - at
                data = os.pread(self.fd, k, at) if at < self.old_size else b""
                view[done:done + len(data)] = data
                view[done + len(data):done + k] = bytes(k - len(data))
            done += k
        self.pos += n
        return n

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        if not len(view):
            return 0
        self._load(self.pos // PAGE, (self.pos + len(view) - 1) // PAGE)
        done = 0
        while done < len(view):
            page, off = divmod(self.pos + done, PAGE)
            k = min(PAGE - off, len(view) - done)
            self.pages[page][off:off + k] = view[done:done + k]
            done += k
        self.pos += len(view)
        self.size = max(self.size, self.pos)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        self.size = self.pos if size is None else int(size)
        return self.size

    def flush(self) -> None:
        return None

    def changed(self) -> list[tuple[int, bytes, bytes]]:
        """``(offset, old bytes, new bytes)`` of every run of consecutive pages that differ
        from the file (at most :data:`RUN` pages each; ``old`` stops at the old end)."""
        out: list[tuple[int, bytes, bytes]] = []
        run: list[int] = []

        def close() -> None:
            if run:
                start = run[0] * PAGE
                out.append((start, b"".join(self.original[p] for p in run),
                            b"".join(memoryview(self.pages[p])[:min(PAGE, self.size - p * PAGE)]
                                     for p in run)))
                run.clear()

        for page in sorted(self.pages):
            start = page * PAGE
            if start >= self.size:
                continue
            buf = self.pages[page]
            new = buf if start + PAGE <= self.size else buf[:self.size - start]
            if new == self.original[page]:  # bytearray against bytes: one memcmp
                close()
                continue
            if run and (run[-1] != page - 1 or len(run) >= RUN):
                close()
            run.append(page)
        close()
        if self.size < self.old_size:  # a shrunk file: its old tail comes back on rollback
            out.append((self.size, os.pread(self.fd, self.old_size - self.size, self.size), b""))
        return out


def _write_journal(path: Path, old_size: int, pages: list[tuple[int, bytes, bytes]]) -> None:
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        def put(data: bytes) -> None:
            h.update(data)
            fh.write(data)
        put(MAGIC + struct.pack("<QQ", old_size, len(pages)))
        for offset, old, _ in pages:
            put(struct.pack("<QQ", offset, len(old)) + old)
        fh.write(h.digest() + TRAILER)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)


@contextlib.contextmanager
def shared_lock(store: str | Path) -> Iterator[None]:
    """Hold a shared lock while a reader opens ``store`` (never during step 2 of a commit)."""
    try:
        fd = os.open(real_target(store), os.O_RDONLY)
    except OSError:
        yield  # the open that follows reports the problem
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def journaled_edit(store: str | Path) -> Iterator[h5py.File]:
    """A writable ``h5py.File`` on ``store`` edited in place; all of it lands, or nothing."""
    recover(store)
    target = real_target(store)
    journal = journal_path(store)
    try:
        fd = os.open(target, os.O_RDWR)
    except OSError as exc:
        code = io_errno(exc)
        if code is None:
            raise
        raise write_error(store, code, True) from None
    try:
        overlay = _Overlay(fd)
        with h5py.File(overlay, "r+") as h5:
            yield h5
        pages = overlay.changed()
        grown = sum(len(new) for _, _, new in pages) - sum(len(old) for _, old, _ in pages)
        ensure_space(target, sum(len(old) for _, old, _ in pages) + max(0, grown),
                     "an in-place edit and its journal")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_journal(journal, overlay.old_size, pages)
            for offset, _, new in pages:
                os.pwrite(fd, new, offset)
            os.ftruncate(fd, overlay.size)
            os.fsync(fd)
            journal.unlink()
            fsync_dir(journal.parent)
        except OSError as exc:
            code = io_errno(exc)
            with contextlib.suppress(OSError):
                if journal.exists():
                    roll_back(target, journal)
            if code is None:
                raise
            raise write_error(store, code, True) from None
    finally:
        os.close(fd)
