"""In-place edits through the rollback journal: all of an edit lands, or none of it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from dhr_sdk.store import Store, journal
from dhr_sdk.store.journal import journal_path, journaled_edit
from tests.plugintools import graph_and_ranker


class Killed(BaseException):
    """Stands for a kill: nothing after it runs (not even the rollback on error)."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    path = tmp_path / "s.h5"
    Store.create(path)
    with Store(path).edit() as w:
        w.h5.create_dataset("x", data=np.arange(50_000), maxshape=(None,), chunks=(4096,))
    return path


def _grow(h5: h5py.File) -> None:
    ds = h5["x"]
    ds.resize((60_000,))
    ds[:] = np.arange(60_000)[::-1]
    h5.attrs["grown"] = 1


def test_an_edit_lands_whole_and_leaves_no_journal(store: Path) -> None:
    with journaled_edit(store) as h5:
        _grow(h5)
    with h5py.File(store, "r") as h5:
        assert h5["x"].shape == (60_000,) and h5["x"][0] == 59_999 and h5.attrs["grown"] == 1
    assert not journal_path(store).exists()


def test_an_error_in_the_edit_leaves_the_store_byte_identical(store: Path) -> None:
    before = _digest(store)
    with pytest.raises(RuntimeError), journaled_edit(store) as h5:
        _grow(h5)
        raise RuntimeError("boom")
    assert _digest(store) == before and not journal_path(store).exists()


def test_a_kill_while_pages_are_written_is_rolled_back_on_the_next_open(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _digest(store)
    opened = Store(store)
    real, calls = os.pwrite, []

    def pwrite(fd: int, data: bytes, offset: int) -> int:  # the first write is torn
        calls.append(offset)
        real(fd, data[:len(data) // 2], offset)
        raise Killed

    monkeypatch.setattr(journal.os, "pwrite", pwrite)
    with pytest.raises(Killed), journaled_edit(store) as h5:
        _grow(h5)
    monkeypatch.setattr(journal.os, "pwrite", real)
    assert journal_path(store).exists() and _digest(store) != before  # half-written
    assert opened.elements() == []  # a reader made before the kill first undoes the half edit
    assert _digest(store) == before and not journal_path(store).exists()


def test_an_incomplete_journal_is_discarded_and_the_store_kept(store: Path) -> None:
    before = _digest(store)
    journal_path(store).write_bytes(b"DHRJ1\n" + b"\0" * 40)  # killed while journaling
    Store(store)
    assert _digest(store) == before and not journal_path(store).exists()


def test_unchanged_pages_are_neither_journaled_nor_written(store: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    written: list[int] = []
    real = os.pwrite
    monkeypatch.setattr(journal.os, "pwrite",
                        lambda fd, data, off: written.append(len(data)) or real(fd, data, off))
    with journaled_edit(store) as h5:
        h5["x"][:10] = np.arange(10)  # the same values
    assert sum(written) <= 2 * journal.PAGE  # at most HDF5's own bookkeeping


CHILD = """
import os, signal, sys
import numpy as np
from dhr_sdk.store import journal
from dhr_sdk.offline.grow import add_codes
store, stage, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = []
if stage == "apply":  # SIGKILL after `after` runs of pages reached the store
    real = os.pwrite
    def pwrite(fd, data, offset):
        calls.append(offset)
        if len(calls) > after:
            real(fd, data[:len(data) // 2], offset)  # a torn write of the next run
            os.kill(os.getpid(), signal.SIGKILL)
        return real(fd, data, offset)
    journal.os.pwrite = pwrite
else:  # SIGKILL while the journal is being written
    real_write = journal._write_journal
    def half(path, old_size, pages):
        real_write(path, old_size, pages[: len(pages) // 2])
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) - 10)
        os.kill(os.getpid(), signal.SIGKILL)
    journal._write_journal = half
codes = np.load(store + ".new.npy")
add_codes(store, codes, [f"new{i}" for i in range(len(codes))])
"""


@pytest.mark.parametrize(("stage", "after"), [("journal", 0), ("apply", 0), ("apply", 3)])
def test_sigkill_during_an_in_place_add_leaves_the_old_store(tmp_path: Path, stage: str,
                                                            after: int) -> None:
    import subprocess
    import sys

    from dhr_sdk.offline.grow import add_codes
    from dhr_sdk.offline.relevance import graph_and_rank, import_codes
    from dhr_sdk.testing import clustered_codes

    codes = clustered_codes(3000, 32, 20, 0.03, seed=7)
    np.save(tmp_path / "c.npy", codes[:2500])
    path = tmp_path / "s.h5"
    import_codes(path, tmp_path / "c.npy")
    graph_and_rank(path, **graph_and_ranker())
    np.save(f"{path}.new.npy", codes[2500:])
    before = _digest(path)
    child = subprocess.run([sys.executable, "-c", CHILD, str(path), stage, str(after)],
                           check=False, capture_output=True)
    assert child.returncode == -9, child.stderr.decode()
    assert journal_path(path).exists()
    assert set(Store(path).verify().values()) == {"verified"}  # rolled back, then checked
    assert _digest(path) == before and not journal_path(path).exists()
    report = add_codes(path, codes[2500:], [f"new{i}" for i in range(500)])
    assert report.images == 3000 and set(Store(path).verify().values()) == {"verified"}


def test_journal_entries_restore_the_old_bytes_after_growth_or_shrinking(tmp_path: Path
                                                                         ) -> None:
    old = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    for new_size in (500_000, 100_000):
        path = tmp_path / f"f{new_size}"
        path.write_bytes(old)
        fd = os.open(path, os.O_RDWR)
        try:
            overlay = journal._Overlay(fd)
            overlay.seek(40_000)
            overlay.write(b"\1" * 200_000)  # many pages: runs of at most RUN pages
            overlay.seek(290_000)
            overlay.write(b"\2" * 50_000)  # across the old end
            overlay.truncate(new_size)
            entries = overlay.changed()
            assert all(len(new) <= journal.RUN * journal.PAGE for _, _, new in entries)
            for offset, _, new in entries:
                os.pwrite(fd, new, offset)
            os.ftruncate(fd, new_size)
            assert overlay.size == new_size
            image = bytearray(path.read_bytes())
            for offset, before, _ in entries:  # what a rollback writes back
                image[offset:offset + len(before)] = before
            assert bytes(image[:len(old)]) == old
        finally:
            os.close(fd)
