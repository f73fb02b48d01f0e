"""Schema constants and attribute helpers of the dhr HDF5 format (see docs/file-format.md)."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from dhr_sdk._version import __version__
from dhr_sdk.core.errors import StoreFormatError

FORMAT_NAME = "dhr-store"
FORMAT_VERSION = "1.0"
ENCODING_TYPE = "encoding-type"
ENCODING_VERSION = "encoding-version"
STR = h5py.string_dtype("utf-8")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
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
    """Who produced an element: plugin, its version and params, the seed, the SDK version."""

    plugin: str
    kind: str
    distribution: str = "dhr-sdk"
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
            plugin_version=str(a.get("plugin_version", "")),
            params=json.loads(a.get("params", "{}")),
            seed=None if isinstance(seed, str) else int(seed),
            sdk_version=str(a.get("sdk_version", "")), created=str(a.get("created", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_strings(group: h5py.Group, name: str, values: list[str]) -> None:
    group.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)


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
    g.create_dataset("indptr", data=csr.indptr.astype(np.int64))
    g.create_dataset("indices", data=csr.indices.astype(np.int64), chunks=True)
    g.create_dataset("data", data=csr.data, chunks=True)
    return g


def read_csr(group: h5py.Group, name: str) -> sp.csr_matrix:
    g = group[name]
    check_encoding(g, "csr_matrix", f"sparse matrix {g.name}")
    shape = tuple(int(x) for x in g.attrs["shape"])
    return sp.csr_matrix((g["data"][()], g["indices"][()], g["indptr"][()]), shape=shape)
