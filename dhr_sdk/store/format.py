"""Schema constants and attribute helpers of the dhr HDF5 format (see docs/file-format.md)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from dhr_sdk._version import __version__
from dhr_sdk.core.errors import StoreFormatError
from dhr_sdk.store import segments
from dhr_sdk.store.atomic import ensure_space

FORMAT_NAME = "dhr-store"
FORMAT_VERSION = "2.0"
"""1.1 added a ``checksum`` attribute on every element (1.0 stores are read without one);
2.0 segmented dataset checksums, appendable per-image datasets, image ids as one blob,
stored graph components and degrees, appended graph edges (docs/file-format.md)."""
CHECKSUM_SINCE = (1, 1)
ENCODING_TYPE = "encoding-type"
ENCODING_VERSION = "encoding-version"
CHECKSUM = "checksum"
STR = h5py.string_dtype("utf-8")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def major(version: str) -> int:
    return version_tuple(version)[0]


def version_tuple(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a ``"major.minor[.patch]"`` version string."""
    parts = str(version).split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise StoreFormatError(f"unreadable format version {version!r}") from None


def check_version(what: str, found: str, supported: str = FORMAT_VERSION) -> None:
    """Refuse elements written by a newer major version of the format."""
    if major(found) > major(supported):
        raise StoreFormatError(
            f"{what} uses format version {found}, but this dhr-sdk ({__version__}) reads "
            f"version {major(supported)}.x at most; upgrade dhr-sdk to read it"
        )


def set_encoding(obj: h5py.HLObject, encoding_type: str, version: str = FORMAT_VERSION) -> None:
    obj.attrs[ENCODING_TYPE] = encoding_type
    obj.attrs[ENCODING_VERSION] = version


def check_encoding(obj: h5py.HLObject, encoding_type: str, what: str) -> None:
    found = obj.attrs.get(ENCODING_TYPE)
    if found != encoding_type:
        raise StoreFormatError(f"{what} is not a {encoding_type!r} element (found {found!r})")
    check_version(what, str(obj.attrs.get(ENCODING_VERSION, "0")))


@dataclass(frozen=True)
class Provenance:
    """Who produced an element: plugin, the distribution (+ version) that provided it, its
    version and params, the seed, the SDK version."""

    plugin: str
    kind: str
    distribution: str = "dhr-sdk"
    distribution_version: str = __version__
    plugin_version: str = __version__
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    sdk_version: str = __version__
    created: str = field(default_factory=now)

    def write(self, obj: h5py.HLObject) -> None:
        for key, value in asdict(self).items():
            if key == "params":
                obj.attrs["params"] = json.dumps(value, sort_keys=True)
            elif value is None:
                obj.attrs[key] = ""
            else:
                obj.attrs[key] = value

    @classmethod
    def read(cls, obj: h5py.HLObject) -> Provenance:
        a = obj.attrs
        seed = a.get("seed", "")
        return cls(
            plugin=str(a.get("plugin", "")), kind=str(a.get("kind", "")),
            distribution=str(a.get("distribution", "")),
            distribution_version=str(a.get("distribution_version", "")),
            plugin_version=str(a.get("plugin_version", "")),
            params=json.loads(a.get("params", "{}")),
            seed=None if isinstance(seed, str) else int(seed),
            sdk_version=str(a.get("sdk_version", "")), created=str(a.get("created", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_array(group: h5py.Group, name: str, data: Any, dtype: Any = None,
                appendable: bool = False) -> h5py.Dataset:
    """A new dataset ``group/name`` after checking the disk has room for it, with its
    segment digest (:mod:`dhr_sdk.store.segments`).

    Contiguous layout (no chunks, no filters), or with ``appendable`` chunked and resizable
    along the first axis (no filters). Files are opened without a chunk cache, so a chunked
    write that meets a full disk fails in the write, as a contiguous one does.
    """
    arr = np.asarray(data)
    if arr.dtype == object:
        nbytes = len("".join(map(str, arr.ravel().tolist())).encode("utf-8")) + 16 * arr.size
    else:
        nbytes = arr.nbytes
    ensure_space(group.file.filename, nbytes, f"{group.name.rstrip('/')}/{name}")
    if appendable and arr.ndim >= 1:
        ds = group.create_dataset(name, data=arr, dtype=dtype,
                                  chunks=segments.chunks_for(arr.shape, arr.dtype.itemsize),
                                  maxshape=(None, *arr.shape[1:]))
    else:
        ds = group.create_dataset(name, data=arr, dtype=dtype)
    if arr.ndim >= 1:
        segments.seal(ds, arr)
    return ds


ID_SEPARATOR = b"\0"
"""Image ids are one UTF-8 blob, NUL-separated (no path holds a NUL byte)."""


def ids_blob(ids: list[str], first: bool = True) -> np.ndarray:
    """The blob of ``ids`` (uint8); ``first=False`` prefixes a separator (an append)."""
    if any("\0" in i for i in ids):
        raise StoreFormatError("an image id contains a NUL character, which a store cannot hold")
    raw = ID_SEPARATOR.join(i.encode("utf-8") for i in ids)
    if ids and not first:
        raw = ID_SEPARATOR + raw
    return np.frombuffer(raw, dtype=np.uint8)


def ids_from(values: np.ndarray, n: int) -> list[str]:
    """Image ids of an ``image_ids`` dataset: a 2.0 blob of ``n`` ids, or 1.x strings."""
    if values.dtype == np.uint8:
        if n == 0:
            return []
        return values.tobytes().decode("utf-8").split("\0")
    return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in values]


def ids_at(values: np.ndarray, n: int, rows: Sequence[int]) -> list[str]:
    """``ids_from(values, n)[r]`` for ``r`` in ``rows``, without decoding the other ids (a
    2.0 blob is cut at its separators: a million ids are one byte scan, not a split)."""
    if values.dtype != np.uint8:
        return ids_from(values[np.asarray(rows, dtype=np.int64)], len(rows))
    ends = np.flatnonzero(values == 0)
    if ends.size != max(n - 1, 0):
        raise ValueError(f"the image id blob holds {ends.size + 1} ids, not {n}")
    starts = np.concatenate([[0], ends + 1])
    ends = np.append(ends, values.size)
    return [values[starts[r]:ends[r]].tobytes().decode("utf-8") for r in rows]


def write_strings(group: h5py.Group, name: str, values: list[str]) -> None:
    write_array(group, name, np.array(values, dtype=object), dtype=STR)


def read_strings(group: h5py.Group, name: str) -> list[str]:
    if name not in group:
        return []
    return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in group[name][()]]


def write_csr(group: h5py.Group, name: str, matrix: sp.spmatrix | sp.sparray) -> h5py.Group:
    """A sparse matrix as an anndata-style CSR group (indptr, indices, data, shape attr)."""
    csr = sp.csr_matrix(matrix)
    g = group.create_group(name)
    set_encoding(g, "csr_matrix", "0.1.0")
    g.attrs["shape"] = np.asarray(csr.shape, dtype=np.int64)
    write_array(g, "indptr", csr.indptr.astype(np.int64))
    write_array(g, "indices", csr.indices.astype(np.int64))
    write_array(g, "data", csr.data)
    return g


def read_csr(group: h5py.Group, name: str) -> sp.csr_matrix:
    g = group[name]
    check_encoding(g, "csr_matrix", f"sparse matrix {g.name}")
    shape = tuple(int(x) for x in g.attrs["shape"])
    return sp.csr_matrix((g["data"][()], g["indices"][()], g["indptr"][()]), shape=shape)


_MUL = np.uint64(0x100000001B3)


def id_hashes(blob: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit polynomial hash of each of the ``n`` NUL-separated ids of ``blob`` (the
    ``collection/id_hashes`` dataset: membership tests without decoding the ids)."""
    if n == 0:
        return np.zeros(0, np.uint64)
    sep = blob == 0
    which = np.cumsum(sep) - sep  # id of each byte (separators belong to the id before)
    starts = np.concatenate([[0], np.flatnonzero(sep) + 1])
    pos = np.arange(blob.size) - starts[which]
    powers = np.cumprod(np.full(int(pos.max(initial=0)) + 1, _MUL, dtype=np.uint64))
    contrib = (blob.astype(np.uint64) + np.uint64(1)) * powers[pos]
    contrib[sep] = 0
    ext = np.append(contrib, np.uint64(0))  # an empty last id starts at the blob's end
    return np.add.reduceat(ext, starts)
