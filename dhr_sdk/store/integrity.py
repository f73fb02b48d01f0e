"""What a store reader trusts: only the file itself, and only content that checks out.

- :func:`refuse_outside_storage` refuses a file that makes HDF5 read anything but the file:
  external links, soft links, external raw storage, virtual datasets, and filters HDF5
  would load as plugins. A store written by dhr holds none of them.
- :func:`element_digest` is the SHA-256 ``checksum`` attribute of every element (format
  1.1): over its attributes, the names, types and shapes of its groups and datasets, and
  the datasets' bytes, in sorted name order.
- The ``check_*`` functions test what a checksum cannot (an element written by a buggy or
  foreign writer): finite scores, indices in range, sorted orders, consistent sizes.

Failures raise :class:`Damage` with one sentence; the store names itself and the element.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from dhr_sdk.core.bits import n_bits_problem
from dhr_sdk.store import segments
from dhr_sdk.store.format import CHECKSUM
from dhr_sdk.store.segments import feed_data

BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6}
"""deflate, shuffle, fletcher32, szip, nbit, scaleoffset: compiled into HDF5, never loaded."""
_BLOCK = 1 << 26


class Damage(Exception):
    """One reason an element cannot be trusted (converted to StoreDamagedError)."""


class Refused(Exception):
    """One reason a file is not read at all (converted to StoreFormatError)."""


_CLEAN: OrderedDict[tuple[int, ...], None] = OrderedDict()
"""Files already walked, by device, inode, size, mtime and ctime of the open file."""


def _identity(h5: h5py.File) -> tuple[int, ...] | None:
    try:
        st = os.fstat(h5.id.get_vfd_handle())
    except (OSError, TypeError, ValueError, RuntimeError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def refuse_outside_storage(h5: h5py.File) -> None:
    """Raise :class:`Refused` when any object of ``h5`` reads or loads something else.

    Every link is visited (``H5Lvisit``); a file whose state (inode, size, times) was
    walked before in this process is not walked again.
    """
    key = _identity(h5)
    if key is not None and key in _CLEAN:
        return
    links: list[tuple[str, int, int | None]] = []

    def collect(name: bytes, info: Any) -> None:
        hard = info.type == h5py.h5l.TYPE_HARD
        links.append((name.decode("utf-8", "replace"), info.type, info.u if hard else None))

    h5.id.links.visit(collect, info=True)
    seen: set[int] = set()
    for name, kind, addr in links:
        where = f"/{name}"
        if kind == h5py.h5l.TYPE_EXTERNAL:
            target = h5.get(name, getlink=True)
            raise Refused(f"{where} is an external link to {target.filename}:{target.path}")
        if kind == h5py.h5l.TYPE_SOFT:
            raise Refused(f"{where} is a soft link to {h5.get(name, getlink=True).path}")
        if addr is None:
            raise Refused(f"{where} is a user-defined link")
        if addr in seen:
            raise Refused(f"{where} is a second link to an object already in the file")
        seen.add(addr)
        oid = h5py.h5o.open(h5.id, name.encode("utf-8"))
        if isinstance(oid, h5py.h5d.DatasetID):
            _check_dataset(oid.get_create_plist(), where)
    if key is not None:
        _CLEAN[key] = None
        while len(_CLEAN) > 256:
            _CLEAN.popitem(last=False)


def _check_dataset(plist: Any, where: str) -> None:
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise Refused(f"{where} is a virtual dataset (its data lives in other files)")
    if plist.get_external_count():
        files = ", ".join(sorted({plist.get_external(i)[0].decode("utf-8", "replace")
                                  for i in range(plist.get_external_count())}))
        raise Refused(f"{where} keeps its data in external files ({files})")
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in BUILTIN_FILTERS:
            raise Refused(f"{where} needs HDF5 filter {code}, which would be loaded as a plugin")


def _str_bytes(value: Any) -> bytes:
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return len(raw).to_bytes(8, "little") + raw


def _feed_value(h: Any, value: Any) -> None:
    """An attribute value: its kind, size and shape, then its bytes."""
    if isinstance(value, (str, bytes)):
        h.update(b"s" + _str_bytes(value))
        return
    arr = np.asarray(value)
    h.update(f"a{arr.dtype.kind}{arr.dtype.itemsize}{arr.shape}".encode())
    feed_data(h, arr)


def _feed_dataset(h: Any, ds: h5py.Dataset, loaded: Any) -> None:
    if ds.shape is None:
        h.update(b"null")
        return
    h.update(f"{ds.dtype.kind}{ds.dtype.itemsize}{ds.shape}".encode())
    if segments.segmented(ds):  # format 2.0: its segment digests (attributes) stand for it
        return
    if loaded is not None:
        feed_data(h, loaded)
    elif ds.dtype.kind in "OSU" or not ds.shape or ds.nbytes <= _BLOCK:
        feed_data(h, ds[()])
    else:  # large numeric datasets in row blocks (the same bytes as the whole array)
        rows = max(1, _BLOCK // max(1, ds.nbytes // max(1, ds.shape[0])))
        for start in range(0, ds.shape[0], rows):
            feed_data(h, ds[start:start + rows])


def element_digest(obj: h5py.HLObject, loaded: Mapping[str, Any] | None = None) -> str:
    """``sha256:<hex>`` of an element; ``loaded`` holds arrays already read (by path
    relative to the element) so a reader does not read them twice."""
    got = loaded or {}
    h = hashlib.sha256()

    def feed(o: h5py.HLObject, rel: str) -> None:
        h.update(b"D" if isinstance(o, h5py.Dataset) else b"G")
        h.update(_str_bytes(rel))
        for key in sorted(o.attrs):
            if rel == "" and key == CHECKSUM:
                continue
            h.update(_str_bytes(key))
            _feed_value(h, o.attrs[key])
        if isinstance(o, h5py.Dataset):
            _feed_dataset(h, o, got.get(rel))
        else:
            for name in sorted(o):
                feed(o[name], f"{rel}/{name}" if rel else name)

    feed(obj, "")
    return "sha256:" + h.hexdigest()


def verify(obj: h5py.HLObject, required: bool, loaded: Mapping[str, Any] | None = None,
           only_loaded: bool = False) -> bool:
    """Compare the element's ``checksum``; ``required`` for format >= 1.1; and the segment
    digests (format 2.0) of its datasets: of all of them, or with ``only_loaded`` of those
    in ``loaded`` (a partial read checks what it read). Returns whether there was one."""
    stored = obj.attrs.get(CHECKSUM)
    if stored is None:
        if required:
            raise Damage("its checksum attribute is missing")
        return False
    if str(stored) != element_digest(obj, loaded):
        raise Damage("its checksum does not match its content (the file changed after it "
                     "was written)")
    got = loaded or {}

    def check(ds: h5py.Dataset, rel: str) -> None:
        if not segments.segmented(ds) or (only_loaded and rel not in got):
            return
        why = segments.check(ds, got[rel] if rel in got else ds[()])
        if why:
            raise Damage(why)

    if isinstance(obj, h5py.Dataset):
        check(obj, "")
    else:
        obj.visititems(lambda name, o: check(o, name) if isinstance(o, h5py.Dataset) else None)
    return True


def _need(cond: bool, why: str) -> None:
    if not cond:
        raise Damage(why)


def check_n_bits(n_bits: int) -> int:
    _need(n_bits_problem(n_bits) is None, f"its code length n_bits is {n_bits}")
    return n_bits


def check_codes(codes: np.ndarray, n_bits: int, what: str = "codes") -> None:
    check_n_bits(n_bits)
    _need(codes.dtype == np.uint8 and codes.ndim == 2 and codes.shape[1] * 8 == n_bits,
          f"{what} are {codes.dtype} {codes.shape}, not uint8 rows of {n_bits // 8} bytes")


def check_index(values: np.ndarray, size: int, what: str) -> None:
    """Integer indices, all in ``[0, size)``."""
    _need(values.ndim == 1 and values.dtype.kind in "iu", f"{what} are not integer indices")
    if values.size:
        lo, hi = int(values.min()), int(values.max())
        _need(lo >= 0 and hi < size, f"{what} hold {lo if lo < 0 else hi}, outside 0..{size - 1}")


def check_finite(values: np.ndarray, what: str) -> None:
    _need(values.ndim == 1 and values.dtype.kind == "f", f"{what} are not a float vector")
    bad = int(np.count_nonzero(~np.isfinite(values)))
    _need(bad == 0, f"{bad} of its {values.size} {what} are NaN or infinite")


def check_indptr(indptr: np.ndarray, rows: int, total: int, what: str) -> None:
    _need(indptr.ndim == 1 and indptr.shape[0] == rows + 1 and indptr.dtype.kind in "iu",
          f"{what} has {indptr.shape} entries for {rows} rows")
    _need(int(indptr[0]) == 0 and int(indptr[-1]) == total
          and bool(np.all(np.diff(indptr) >= 0)), f"{what} is not a sorted row index")


def check_csr(shape: tuple[int, ...], indptr: np.ndarray, indices: np.ndarray,
              data: np.ndarray, what: str) -> None:
    _need(len(shape) == 2 and min(shape) >= 0, f"{what} has shape {shape}")
    check_indptr(indptr, shape[0], indices.shape[0], f"{what} indptr")
    check_index(indices, shape[1], f"{what} column indices")
    _need(data.shape == indices.shape, f"{what} has {data.size} values for {indices.size} "
          "indices")


def check_graph(n_bits: int, node_codes: np.ndarray, node_counts: np.ndarray,
                image_nodes: np.ndarray, adjacency: Any, merged: bool) -> None:
    check_codes(node_codes, n_bits, "node codes")
    m = node_codes.shape[0]
    _need(node_counts.shape == (m,) and bool(np.all(node_counts >= 1)),
          "node_counts do not give every node one image or more")
    check_index(image_nodes, m, "image_nodes")
    _need(bool(np.array_equal(np.bincount(image_nodes, minlength=m), node_counts)),
          "node_counts do not match image_nodes")
    _need(merged or m == image_nodes.shape[0], "a per-image graph has more nodes than images")
    _need(adjacency.shape == (m, m), f"the adjacency is {adjacency.shape} for {m} nodes")
    check_finite(np.asarray(adjacency.data, dtype=np.float64), "edge weights")
    _need(bool(np.all(adjacency.data > 0)), "some edge weights are not positive")


def check_importance(n_bits: int, codes: np.ndarray, scores: np.ndarray, order: np.ndarray,
                     counts: np.ndarray, indptr: np.ndarray, members: np.ndarray) -> None:
    """The importance list's columns as docs/ranking.md defines them (tie rule included
    only as far as it is cheap: scores non-increasing, each row's images ascending)."""
    check_codes(codes, n_bits, "codes H")
    m = codes.shape[0]
    check_finite(scores, "scores S")
    _need(scores.shape == (m,), f"{scores.size} scores S for {m} codes")
    _need(bool(np.all(np.diff(scores) <= 0)), "scores S are not sorted in descending order")
    _need(bool(np.array_equal(order, np.arange(1, m + 1))), "orders O are not 1, 2, ... m")
    _need(counts.shape == (m,) and counts.dtype.kind in "iu" and bool(np.all(counts >= 1)),
          "image counts N are not positive integers, one per code")
    n = int(counts.sum())
    check_indptr(indptr, m, members.shape[0], "D_indptr")
    _need(bool(np.array_equal(np.diff(indptr), counts)), "D_indptr does not match N")
    check_index(members, n, "image indices D")
    _need(bool(np.all(np.bincount(members, minlength=n) == 1)),
          "image indices D do not list every image once")
    step = np.diff(members)
    starts = indptr[1:-1] - 1  # positions in ``step`` where a new row begins
    inside = np.ones(step.shape[0], dtype=bool)
    inside[starts[(starts >= 0) & (starts < step.shape[0])]] = False
    _need(bool(np.all(step[inside] > 0)), "image indices D are not ascending within a row")


def check_added_edges(base: int, m: int, i: np.ndarray, j: np.ndarray,
                      weight: np.ndarray) -> None:
    """Appended edges: in range, each with an endpoint at or after the base adjacency."""
    _need(i.shape == j.shape == weight.shape, "its added edges differ in length")
    check_index(i, m, "added edge ends i")
    check_index(j, m, "added edge ends j")
    _need(base <= m and bool(np.all(np.maximum(i, j) >= base)),
          "an added edge joins two nodes of the base adjacency")
    check_finite(np.asarray(weight, dtype=np.float64), "added edge weights")
    _need(bool(np.all(weight > 0)), "some added edge weights are not positive")


def check_node_part(values: np.ndarray, m: int, what: str) -> None:
    _need(values.shape == (m,), f"its {what} has {values.shape} entries for {m} nodes")
