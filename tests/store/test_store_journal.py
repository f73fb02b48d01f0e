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
    real, calls = os.pwrite, []

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        calls.append(offset)
        if len(calls) == 3:
            raise Killed
        return real(fd, data, offset)

    monkeypatch.setattr(journal.os, "pwrite", pwrite)
    with pytest.raises(Killed), journaled_edit(store) as h5:
        _grow(h5)
    monkeypatch.setattr(journal.os, "pwrite", real)
    assert journal_path(store).exists() and _digest(store) != before  # half-written
    assert Store(store).elements() == []  # any reader first undoes the half edit
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
