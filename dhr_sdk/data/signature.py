"""A collection's signature: the files (id, size, mtime) a store's contents come from.

A store reuses its cached features only while the folder still holds the files they were
computed from; the signature is how it tells. It is the sum, modulo 2^128, of one digest
per file (SHA-256 of ``id \\0 size \\0 mtime_ns``, first 16 bytes, or ``id \\0 missing``),
written as ``2:`` and 32 hex digits. A sum does not depend on the order of the files, so
``dhr add`` extends the stored signature by the new files' digests (:func:`extended`)
instead of reading the size and mtime of every file of the collection again, which is
most of the cost of adding to a large collection (five seconds per million files here):
the old files keep the state recorded when the store was built, so a file changed since
then still invalidates the cache on the next ``dhr build``.

Stores written before this digest carry a plain SHA-256 over the sorted entries (32 hex
digits, no prefix; :func:`legacy`). It is still recognised, so their caches stay valid;
it cannot be extended, so the first ``dhr add`` to such a store reads every file once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

PREFIX = "2:"
_MOD = 1 << 128


def _entry(prefix: str, iid: str) -> bytes:
    try:
        st = os.stat(prefix + iid)
    except OSError:
        return f"{iid}\0missing\n".encode()
    return f"{iid}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()


def _prefix(root: str | Path) -> str:
    """``root`` with one trailing separator (string joins: a million files in seconds)."""
    return os.path.join(str(root), "")


def _sum(root: str | Path, ids: Iterable[str]) -> int:
    prefix, sha, as_int = _prefix(root), hashlib.sha256, int.from_bytes
    return sum(as_int(sha(_entry(prefix, i)).digest()[:16], "big") for i in set(ids)) % _MOD


def signature(root: str | Path, ids: Iterable[str]) -> str:
    """The signature of the files ``ids`` (relative to ``root``) as they are now."""
    return f"{PREFIX}{_sum(root, ids):032x}"


def extended(stored: str, root: str | Path, new_ids: Iterable[str]) -> str | None:
    """``stored`` with the files ``new_ids`` (not among its files) added, as they are now;
    None when ``stored`` is not a signature of this kind (then compute it whole)."""
    if not stored.startswith(PREFIX):
        return None
    try:
        old = int(stored[len(PREFIX):], 16)
    except ValueError:
        return None
    return f"{PREFIX}{(old + _sum(root, new_ids)) % _MOD:032x}"


def legacy(root: str | Path, ids: Iterable[str]) -> str:
    """The signature stores written before :data:`PREFIX` carry (kept to match them)."""
    h = hashlib.sha256()
    prefix = _prefix(root)
    for iid in sorted(set(ids)):
        h.update(_entry(prefix, iid))
    return h.hexdigest()[:32]


def like(stored: str, root: str | Path, ids: Iterable[str]) -> str:
    """The signature of ``ids`` now, of the kind ``stored`` is (to compare with it)."""
    return signature(root, ids) if stored.startswith(PREFIX) else legacy(root, ids)
