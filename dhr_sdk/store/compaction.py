"""Dead space left by in-place growth, and the compaction that reclaims it.

``dhr add`` writes the datasets it rewrites whole (scores, the importance list's columns)
into fresh space after the old end of the file, so that their old bytes need no journal
(:func:`dhr_sdk.store.growth.write_growth`); the space of the old copies is then dead:
HDF5 does not reuse it in later sessions. The writer adds the old copies' sizes to the
root attribute :data:`DEAD`; :func:`compact_if_wasteful` rewrites the store
into a fresh file with the same content when dead bytes exceed :data:`DEAD_LIMIT` of the
file, so repeated adds keep a store below about twice its live size. The rewrite is one
copy-and-replace (:func:`dhr_sdk.store.atomic.atomic_edit`): a kill leaves the store as it
was before the compaction (already grown).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py

from dhr_sdk.store.atomic import atomic_edit, ensure_space, real_target
from dhr_sdk.store.journal import shared_lock

DEAD_LIMIT = 0.5
"""Compact when dead bytes exceed this fraction of the file (the file then stays below
about twice its live bytes)."""


DEAD = "dead_bytes"
"""Root attribute: bytes of dataset copies that in-place growth left dead since the file
was last written whole (absent: none)."""


@dataclass(frozen=True)
class Space:
    """A store's length and its dead bytes (as recorded by the in-place writes)."""

    file_bytes: int
    dead_bytes: int

    @property
    def dead_fraction(self) -> float:
        return self.dead_bytes / self.file_bytes if self.file_bytes else 0.0


def recorded_dead(h5: h5py.File) -> int:
    return int(h5.attrs.get(DEAD, 0))


def space(path: str | Path) -> Space:
    """The length of the store at ``path`` and its dead bytes."""
    target = real_target(path)
    with shared_lock(target), h5py.File(target, "r") as h5:
        return Space(os.path.getsize(target), recorded_dead(h5))


def compact(path: str | Path) -> None:
    """Rewrite the store at ``path`` into a fresh file holding the same elements,
    attributes and dataset layouts, without dead space (copy and replace)."""
    target = real_target(path)
    found = space(target)
    ensure_space(target, found.file_bytes - found.dead_bytes, "a compacted copy of the store")
    with shared_lock(target), h5py.File(target, "r") as src, \
            atomic_edit(path, new=True) as dst:
        for key, value in src.attrs.items():
            if key != DEAD:
                dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name)


def compact_if_wasteful(path: str | Path, limit: float = DEAD_LIMIT) -> bool:
    """Compact the store when more than ``limit`` of its bytes are dead; whether it did."""
    if space(path).dead_fraction <= limit:
        return False
    compact(path)
    return True
