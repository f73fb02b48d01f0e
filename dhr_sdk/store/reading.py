"""Reading helpers of the store: open a file checked, one line per damaged part.

Every reader opens a store through :func:`open_checked`, which first undoes an in-place
edit killed part-way (:func:`dhr_sdk.store.journal.recover`) and refuses files that are not
stores or read data from outside themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from dhr_sdk.core.errors import StoreFormatError
from dhr_sdk.store import format as fmt
from dhr_sdk.store import integrity as chk
from dhr_sdk.store.atomic import display_path
from dhr_sdk.store.errors import StoreDamagedError
from dhr_sdk.store.format import Provenance
from dhr_sdk.store.rollback import recover

REBUILD = {"collection": "re-create the store ('dhr features' or 'dhr build')",
           "features": "re-extract them ('dhr features --recompute')",
           "model": "re-fit it ('dhr fit')", "codes": "re-encode ('dhr encode')",
           "graph": "rebuild it ('dhr graph')", "rank": "re-rank ('dhr rank')",
           "importance": "re-rank ('dhr rank')"}
READ_ERRORS = (KeyError, IndexError, ValueError, TypeError, OSError, RuntimeError, chk.Damage)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_checked(path: Path) -> h5py.File:
    shown = display_path(path)
    if not path.exists():
        raise StoreFormatError(f"{shown} does not exist")
    recover(path)
    try:
        h5 = h5py.File(path, "r")
    except PermissionError as exc:
        raise StoreFormatError(f"cannot read {shown}: {exc.strerror}") from None
    except OSError:
        raise StoreFormatError(f"{shown} is not a dhr store (not an HDF5 file)") from None
    try:
        if h5.attrs.get("format") != fmt.FORMAT_NAME:
            raise StoreFormatError(f"{shown} is not a dhr store (no '{fmt.FORMAT_NAME}' "
                                   "format tag)")
        fmt.check_version(f"store {shown}", str(h5.attrs.get("format_version", "0")))
        chk.refuse_outside_storage(h5)
    except chk.Refused as exc:
        h5.close()
        raise StoreFormatError(f"{shown} is refused: {exc}; a dhr store keeps all its data "
                               "inside the file") from None
    except StoreFormatError:
        h5.close()
        raise
    except READ_ERRORS as exc:
        h5.close()
        raise StoreDamagedError(f"{shown} is damaged: {first_line(exc)}") from None
    return h5


def ds(g: h5py.Group, name: str) -> h5py.Dataset:
    obj = g.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise chk.Damage(f"its dataset '{name}' is missing")
    return obj


def attr(obj: h5py.HLObject, key: str) -> Any:
    if key not in obj.attrs:
        raise chk.Damage(f"its attribute '{key}' is missing")
    return obj.attrs[key]


def json_attr(obj: h5py.HLObject, key: str) -> Any:
    try:
        return json.loads(attr(obj, key))
    except ValueError:
        raise chk.Damage(f"its attribute '{key}' is not valid JSON") from None


def provenance(obj: h5py.HLObject) -> Provenance:
    try:
        return Provenance.read(obj)
    except ValueError:
        raise chk.Damage("its provenance attributes are not readable") from None


def csr(g: h5py.Group, name: str, loaded: dict[str, Any]) -> sp.csr_matrix:
    """The CSR group ``g/name``; its arrays are added to ``loaded`` (for the checksum)."""
    sub = g.get(name)
    if not isinstance(sub, h5py.Group):
        raise chk.Damage(f"its sparse matrix '{name}' is missing")
    try:
        fmt.check_encoding(sub, "csr_matrix", f"its sparse matrix '{name}'")
    except StoreFormatError as exc:
        raise chk.Damage(str(exc)) from None
    parts = {k: ds(sub, k)[()] for k in ("indptr", "indices", "data")}
    rel = sub.name.split("/", 2)[2]
    loaded.update({f"{rel}/{k}": v for k, v in parts.items()})
    shape = tuple(int(x) for x in attr(sub, "shape"))
    chk.check_csr(shape, parts["indptr"], parts["indices"], parts["data"], f"'{name}'")
    return sp.csr_matrix((parts["data"], parts["indices"], parts["indptr"]), shape=shape)


def strings(values: np.ndarray) -> list[str]:
    return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in values]
