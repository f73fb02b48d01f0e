"""Everything a store holds, to compare two stores written at different times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

#: Attributes that record when or how fast, not what: the write time, checksums that cover
#: it, and the ranker's wall-clock seconds inside ``rank@info``.
TIMING_ATTRS = ("created", "checksum")


def _value(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tolist() if v.dtype == object else v.tobytes())
    if isinstance(v, (str, bytes)):
        try:
            data = json.loads(v)
        except ValueError:
            return v
        if isinstance(data, dict):
            data.pop("seconds", None)
        return json.dumps(data, sort_keys=True)
    return repr(v)


def store_contents(path: Path) -> dict[str, Any]:
    """``{dataset: (dtype, shape, bytes)}`` and ``{object@attr: value}`` of an HDF5 store,
    without the attributes of :data:`TIMING_ATTRS`."""
    out: dict[str, Any] = {}

    def visit(name: str, obj: h5py.HLObject) -> None:
        for k, v in obj.attrs.items():
            if k not in TIMING_ATTRS:
                out[f"{name}@{k}"] = _value(v)
        if isinstance(obj, h5py.Dataset):
            out[name] = _value(np.asarray(obj[()]))

    with h5py.File(path, "r") as h5:
        visit("/", h5)
        h5.visititems(visit)
    return out


def assert_same_stores(a: Path, b: Path) -> None:
    """Every dataset of ``a`` and ``b`` bitwise equal, every attribute equal (but timing)."""
    ca, cb = store_contents(a), store_contents(b)
    differ = sorted(k for k in ca.keys() | cb.keys() if ca.get(k) != cb.get(k))
    assert not differ, f"{a} and {b} differ in {differ[:10]}"
    assert any(k.startswith("codes") or k.startswith("model") for k in ca), "empty store"
