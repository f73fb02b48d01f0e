"""Segmented checksums of datasets (format 2.0): appending rows hashes only the new rows.

A dataset written by format 2.0 carries ``segments`` (int64 row ends, ascending, the last
one its length) and ``segment_digests`` (one SHA-256 hex digest per row range, over the
bytes :func:`dhr_sdk.store.integrity` feeds for data). The element checksum covers these
attributes instead of the dataset's bytes, so an append updates two attributes and the
element checksum without reading the old rows; a reader checks every segment it reads.
After :data:`MAX_SEGMENTS` appends a dataset is re-hashed as one segment (amortised).
"""

from __future__ import annotations

import hashlib
from typing import Any

import h5py
import numpy as np

SEGMENTS = "segments"
SEGMENT_DIGESTS = "segment_digests"
MAX_SEGMENTS = 32
CHUNK_BYTES = 1 << 20
"""Target size of one chunk of an appendable dataset."""


def feed_data(h: Any, values: Any) -> None:
    """The bytes of an array (strings length-prefixed, numbers little-endian)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "OSU":  # all lengths (8-byte little-endian), then all the bytes
        items = [v if type(v) is bytes else str(v).encode("utf-8") for v in arr.ravel().tolist()]
        h.update(np.fromiter(map(len, items), dtype="<u8", count=len(items)))
        h.update(b"".join(items))
    else:
        h.update(np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False)))


def rows_digest(values: Any) -> str:
    h = hashlib.sha256()
    feed_data(h, values)
    return h.hexdigest()


def rows_of(ds: h5py.Dataset) -> int:
    return int(ds.shape[0]) if ds.shape else 1


def seal(ds: h5py.Dataset, values: Any) -> None:
    """One segment over all of ``ds`` (whose content is ``values``)."""
    ds.attrs[SEGMENTS] = np.array([rows_of(ds)], dtype=np.int64)
    ds.attrs[SEGMENT_DIGESTS] = np.array([rows_digest(values)], dtype="S64")


def segmented(ds: h5py.Dataset) -> bool:
    return SEGMENTS in ds.attrs


MIN_CHUNK_BYTES = 1 << 16
"""Smallest chunk (an empty or small dataset still appends in few chunks)."""


def chunks_for(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """About :data:`CHUNK_BYTES` per chunk, less for a small dataset (never below
    :data:`MIN_CHUNK_BYTES`, so an append of many rows touches few chunks)."""
    row = max(1, itemsize * int(np.prod(shape[1:], dtype=np.int64)))
    rows = max(min(CHUNK_BYTES // row, shape[0]), MIN_CHUNK_BYTES // row, 1)
    return (rows, *shape[1:])


def append_rows(ds: h5py.Dataset, rows: np.ndarray) -> None:
    """Append ``rows`` to a resizable, segmented dataset and record their digest."""
    n = ds.shape[0]
    ds.resize(n + rows.shape[0], axis=0)
    if rows.shape[0]:
        ds[n:] = rows
    ends = list(ds.attrs[SEGMENTS])
    digests = list(ds.attrs[SEGMENT_DIGESTS])
    if len(ends) >= MAX_SEGMENTS:
        seal(ds, ds[()])
        return
    ds.attrs[SEGMENTS] = np.array([*ends, n + rows.shape[0]], dtype=np.int64)
    ds.attrs[SEGMENT_DIGESTS] = np.array([*digests, rows_digest(rows)], dtype="S64")


def check(ds: h5py.Dataset, values: Any) -> str | None:
    """Why ``values`` (the content of ``ds``) fail its segment digests, or None."""
    ends = np.asarray(ds.attrs[SEGMENTS], dtype=np.int64)
    digests = list(ds.attrs[SEGMENT_DIGESTS])
    arr = np.asarray(values)
    n = arr.shape[0] if arr.ndim else 1
    if len(ends) != len(digests) or not len(ends) or int(ends[-1]) != n or \
            bool(np.any(np.diff(ends) < 0)) or int(ends[0]) < 0:
        return "its segment table does not match its length"
    start = 0
    for end, digest in zip(ends.tolist(), digests, strict=True):
        part = arr[start:end] if arr.ndim else arr
        if rows_digest(part) != (digest.decode() if isinstance(digest, bytes) else str(digest)):
            return "its checksum does not match its content (the file changed after it was written)"
        start = end
    return None
