"""The store side of ``dhr add`` on a format 2.0 store: partial reads and an in-place append.

:func:`read_growth_base` reads only what growing needs (node codes, counts, components
and degrees, image nodes, scores, the importance list's image column; never the features,
the old codes, the image ids or the adjacency), each part checked against its segment
digests; :func:`read_collection_head` reads the id hashes (the ids only when a hash
matches a new id). :func:`adjacency_rows` gathers the rows of a few nodes in one pass.
:func:`write_growth` appends and rewrites in one
:func:`~dhr_sdk.store.journal.journaled_edit`: the store is edited in place, and a kill at
any moment leaves it as it was or fully grown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from dhr_sdk.core.types import ImportanceList, RankResult
from dhr_sdk.store import format as fmt
from dhr_sdk.store import integrity as chk
from dhr_sdk.store import segments
from dhr_sdk.store.compaction import DEAD, recorded_dead
from dhr_sdk.store.format import Provenance
from dhr_sdk.store.journal import PAGE, journaled_edit
from dhr_sdk.store.store import Store


@dataclass
class GrowthBase:
    """What a store holds that its growth changes (see :func:`read_growth_base`)."""

    n_bits: int
    radius: int
    node_codes: np.ndarray
    node_counts: np.ndarray
    node_components: np.ndarray
    node_degree: np.ndarray
    n_components: int
    image_nodes: np.ndarray
    n_edges: int
    scores: np.ndarray
    rank: RankResult
    members_indptr: np.ndarray
    """The importance list's ``D_indptr`` and ``D``: the images of each row, in row order."""
    members: np.ndarray
    feature_dims: dict[str, int] = field(default_factory=dict)


def _verified(obj: h5py.HLObject, loaded: dict[str, Any]) -> None:
    try:
        chk.verify(obj, True, loaded, only_loaded=True)
    except chk.Damage as exc:
        raise chk.Damage(f"element '{obj.name.lstrip('/')}': {exc}") from None


def read_growth_base(store: Store) -> GrowthBase | None:
    """The parts growth needs, or None when the store predates them (format < 2.0)."""
    with store._read() as h5, store._damage("graph"):
        g, col = h5["graph"], h5["collection"]
        need = ("node_components", "node_degree", "added_edges")
        grows = [col["image_ids"], h5["codes"], g["node_codes"], g["image_nodes"],
                 *(h5["features"].values() if "features" in h5 else [])]
        if "node_components" not in g or col["image_ids"].dtype != np.uint8 or \
                any(k in g and not segments.segmented(g[k]) for k in need[:2]) or \
                any(d.maxshape[0] is not None or not segments.segmented(d) for d in grows):
            return None
        n = int(col.attrs["n_images"])
        parts = {k: g[k][()] for k in ("node_codes", "node_counts", "node_components",
                                        "node_degree", "image_nodes")}
        _verified(g, parts)
        adj = g["adjacency"]
        n_edges = int(adj["indices"].shape[0]) // 2 + (
            int(g["added_edges/i"].shape[0]) if "added_edges" in g else 0)
        r = h5["rank"]
        scores = r["node_scores"][()]
        _verified(r, {"node_scores": scores})
        rank = RankResult(node_scores=scores, method=str(r.attrs["method"]),
                          iterations=int(r.attrs["iterations"]),
                          converged=bool(r.attrs["converged"]),
                          residual=float(r.attrs["residual"]), info=json.loads(r.attrs["info"]))
        imp = h5["importance"]  # its rows' images: the rest follows from the nodes
        cols = {k: imp[k][()] for k in ("D_indptr", "D")}
        _verified(imp, cols)
        m = parts["node_codes"].shape[0]
        if scores.shape != (m,) or cols["D_indptr"].shape != (m + 1,) or \
                parts["image_nodes"].shape != (n,) or cols["D"].shape != (n,):
            raise chk.Damage("its graph, rank and importance list differ in size")
        dims = {k: int(v.shape[1]) for k, v in h5["features"].items()} if "features" in h5 else {}
        return GrowthBase(
            n_bits=int(g.attrs["n_bits"]),
            radius=int(g.attrs["radius"]), node_codes=parts["node_codes"],
            node_counts=parts["node_counts"], node_components=parts["node_components"],
            node_degree=parts["node_degree"], n_components=int(g.attrs["components"]),
            image_nodes=parts["image_nodes"], n_edges=n_edges, scores=scores, rank=rank,
            members_indptr=cols["D_indptr"], members=cols["D"], feature_dims=dims)


def _entries(ds: h5py.Dataset, path: str | Path, at: np.ndarray) -> np.ndarray:
    """``ds[at]``: through a memory map of the file when the dataset is contiguous and
    unfiltered (only the pages holding ``at`` are read), else from the whole dataset."""
    offset = ds.id.get_offset()
    if offset is None or ds.chunks is not None or ds.compression is not None:
        return np.asarray(ds[()])[at]
    mapped = np.memmap(path, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)
    return np.asarray(mapped[at])


def adjacency_rows(store: Store, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, column, weight)`` of every stored edge entry in the rows ``nodes`` (sorted):
    one gather of their entries from the stored CSR, and the appended edges at them."""
    with store._read() as h5, store._damage("graph"):
        g = h5["graph"]
        adj = g["adjacency"]
        indptr = adj["indptr"][()]
        old = nodes[nodes < indptr.shape[0] - 1]
        lens = indptr[old + 1] - indptr[old]
        at = np.repeat(indptr[old] - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        rows = [np.repeat(old, lens)]
        cols = [_entries(adj["indices"], store._file, at)]
        data = [_entries(adj["data"], store._file, at)]
        if "added_edges" in g:
            i, j, w = (g["added_edges"][k][()] for k in ("i", "j", "weight"))
            hit = np.zeros(int(max(nodes.max(initial=0), i.max(initial=0), j.max(initial=0))) + 1,
                           dtype=bool)
            hit[nodes] = True
            for a_, b_ in ((i, j), (j, i)):
                sel = hit[a_]
                rows.append(a_[sel])
                cols.append(b_[sel])
                data.append(w[sel])
        return (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
                np.concatenate(data).astype(np.float64))


@dataclass
class GrowthWrite:
    """Everything :func:`write_growth` appends or rewrites."""

    new_ids: list[str]
    skipped: list[str]
    skipped_reasons: list[str]
    signature: str
    codes: np.ndarray
    features: dict[str, np.ndarray]
    dropped: list[str]
    new_node_codes: np.ndarray
    new_image_nodes: np.ndarray
    edges: tuple[np.ndarray, np.ndarray, np.ndarray]
    node_counts: np.ndarray
    node_components: np.ndarray
    node_degree: np.ndarray
    n_components: int
    graph_provenance: Provenance
    rank: RankResult
    rank_provenance: Provenance
    importance: ImportanceList
    tie_rule: str
    previous: dict[str, np.ndarray] = field(default_factory=dict)
    """Stored rows of rewritten datasets (by name), read and checked by this growth: a
    dataset whose new content starts with them only appends."""


FRESH = ".fresh"
"""Suffix of a rewritten dataset while it is written into fresh space (renamed at the end)."""


def _pages_changed(previous: np.ndarray, values: np.ndarray) -> float:
    """The fraction of ``previous``'s journal pages whose rows differ in ``values``."""
    n = previous.shape[0]
    if not n:
        return 0.0
    per_page = max(1, PAGE // max(1, previous[:1].nbytes))
    diff = (previous != values[:n]).reshape(n, -1).any(axis=1)
    pages = -(-n // per_page)
    padded = np.zeros(pages * per_page, dtype=bool)
    padded[:n] = diff
    return float(padded.reshape(pages, per_page).any(axis=1).mean())


def _rewrite(group: h5py.Group, name: str, values: np.ndarray, fresh: list[h5py.Dataset],
             previous: np.ndarray | None = None) -> None:
    """``group/name`` := ``values``. Only the new rows are written when its stored rows are
    ``previous`` (read and checked by this growth) and ``values`` starts with them; the
    rows are overwritten in place when ``previous`` says that at most half of its pages
    change (the journal then keeps the old bytes of those pages only); otherwise the values
    go to a new dataset ``name`` + :data:`FRESH`, allocated after the old end of the file
    (nothing to journal), which :func:`_swap_fresh` puts in place of the old one (whose
    space is then dead, until :mod:`dhr_sdk.store.compaction` rewrites the file)."""
    ds = group.get(name)
    fits = isinstance(ds, h5py.Dataset) and ds.maxshape[0] is None and \
        ds.dtype == values.dtype and ds.shape[1:] == values.shape[1:] and segments.segmented(ds)
    if fits and previous is not None and ds.shape[0] == previous.shape[0] <= values.shape[0]:
        if np.array_equal(previous, values[:previous.shape[0]]):
            segments.append_rows(ds, values[previous.shape[0]:])
            return
        if _pages_changed(previous, values) <= 0.5:
            ds.resize(values.shape[0], axis=0)
            ds[...] = values
            segments.seal(ds, values)
            return
    fresh.append(fmt.write_array(group, name + FRESH, values, appendable=True))


def _stored_bytes(ds: h5py.Dataset) -> int:
    """Bytes the data of ``ds`` occupies in the file (dead once ``ds`` is deleted)."""
    return int(ds.id.get_storage_size())


def _swap_fresh(fresh: list[h5py.Dataset]) -> int:
    """Replace each old dataset by its fresh copy (after every fresh one is allocated, so
    that none of them reuses the space the old ones free: the flush allocates the chunks
    HDF5's chunk cache still holds). Returns the bytes the old copies occupied."""
    if fresh:
        fresh[0].file.flush()
    dead = 0
    for ds in fresh:
        group, name = ds.parent, ds.name.rsplit("/", 1)[1][:-len(FRESH)]
        if name in group:
            dead += _stored_bytes(group[name])
            del group[name]
        group.move(name + FRESH, name)
    return dead


def _appendable(group: h5py.Group, name: str, dtype: Any) -> h5py.Dataset:
    if name not in group:
        fmt.write_array(group, name, np.zeros(0, dtype=dtype), appendable=True)
    return group[name]


def write_growth(path: str | Path, w: GrowthWrite) -> None:
    """Append the growth to the store at ``path`` in place (see module doc)."""
    with journaled_edit(path) as h5:
        col = h5["collection"]
        n_old = int(col.attrs["n_images"])
        segments.append_rows(col["image_ids"], fmt.ids_blob(w.new_ids, first=n_old == 0))
        if "id_hashes" in col:
            segments.append_rows(col["id_hashes"],
                                 fmt.id_hashes(fmt.ids_blob(w.new_ids), len(w.new_ids)))
        col.attrs["n_images"] = n_old + len(w.new_ids)
        col.attrs["signature"] = w.signature
        freed = 0  # bytes of deleted datasets: dead, as the old copies of rewritten ones
        for name in ("skipped", "skipped_reasons"):
            freed += _stored_bytes(col[name])
            del col[name]
        fmt.write_strings(col, "skipped", w.skipped)
        fmt.write_strings(col, "skipped_reasons", w.skipped_reasons)
        written = ["collection", "codes", "graph", "rank", "importance"]
        for key in w.dropped:
            freed += _stored_bytes(h5["features"][key])
            del h5["features"][key]
        for key, rows in w.features.items():
            segments.append_rows(h5["features"][key], rows.astype(np.float32))
            written.append(f"features/{key}")
        segments.append_rows(h5["codes"], w.codes)
        g = h5["graph"]
        segments.append_rows(g["node_codes"], w.new_node_codes)
        segments.append_rows(g["image_nodes"], w.new_image_nodes.astype(np.int64))
        added = g.require_group("added_edges")
        for name, values, dtype in zip(("i", "j", "weight"), w.edges,
                                       (np.int64, np.int64, np.float64), strict=True):
            segments.append_rows(_appendable(added, name, dtype), values.astype(dtype))
        fresh: list[h5py.Dataset] = []
        for name, dtype in (("node_counts", np.int64), ("node_components", np.int64),
                            ("node_degree", np.float64)):
            _rewrite(g, name, getattr(w, name).astype(dtype), fresh, w.previous.get(name))
        g.attrs["components"] = w.n_components
        w.graph_provenance.write(g)
        r = h5["rank"]
        _rewrite(r, "node_scores", w.rank.node_scores.astype(np.float64), fresh,
                 w.previous.get("node_scores"))
        r.attrs["info"] = json.dumps(w.rank.info, sort_keys=True)
        w.rank_provenance.write(r)
        imp = h5["importance"]
        il = w.importance
        for name, arr in (("H", il.codes), ("S", il.scores), ("N", il.counts),
                          ("D_indptr", il.members_indptr), ("D", il.members)):
            _rewrite(imp, name, arr, fresh)  # rows move: most pages change
        _rewrite(imp, "O", il.order, fresh, il.order[:imp["O"].shape[0]])  # 1..m: new rows
        h5.attrs[DEAD] = recorded_dead(h5) + freed + _swap_fresh(fresh)
        imp.attrs["tie_rule"] = w.tie_rule
        imp.attrs["created"] = fmt.now()
        for name in written:
            obj = h5[name]
            fmt.set_encoding(obj, str(obj.attrs[fmt.ENCODING_TYPE]))
            obj.attrs[fmt.CHECKSUM] = chk.element_digest(obj)
        h5.attrs["format_version"] = fmt.FORMAT_VERSION


@dataclass
class CollectionHead:
    """A 2.0 collection without its ids decoded: membership by hash, exact on a hit."""

    root: str
    signature: str
    skipped: list[str]
    skipped_reasons: list[str]
    side_files: bool
    n_images: int
    hashes: np.ndarray
    """:func:`~dhr_sdk.store.format.id_hashes` of the ids (stored, or computed here)."""
    read_blob: Callable[[], np.ndarray]
    """The ids' blob, read and checked when an exact answer needs it."""

    def present(self, names: list[str]) -> list[str]:
        """The ``names`` that are already image ids of the collection: a bitmap of the
        names' hashes is probed with every stored hash (one pass, no sort), and the ids are
        decoded only when some hash matches."""
        if not names or not self.n_images:
            return []
        mine = fmt.id_hashes(fmt.ids_blob(names), len(names))
        shift = np.uint64(64 - _PROBE_BITS)
        bitmap = np.zeros(1 << _PROBE_BITS, dtype=bool)
        bitmap[mine >> shift] = True
        near = self.hashes[bitmap[self.hashes >> shift]]
        hits = np.isin(mine, near)
        if not hits.any():
            return []
        ids = set(self.ids())
        return [n for n, hit in zip(names, hits.tolist(), strict=True) if hit and n in ids]

    def ids(self) -> list[str]:
        return fmt.ids_from(self.read_blob(), self.n_images)


_PROBE_BITS = 24
"""Bits of the membership bitmap (2 MiB of bools)."""


def read_collection_head(store: Store) -> CollectionHead | None:
    """The collection of a 2.0 store, checked (None for a 1.x collection); its ids' blob is
    read only when it is needed (or when the store keeps no id hashes)."""
    with store._read() as h5, store._damage("collection"):
        col = h5["collection"]
        if col["image_ids"].dtype != np.uint8:
            return None
        loaded = {k: col[k][()] for k in ("skipped", "skipped_reasons")}
        n = int(col.attrs["n_images"])
        if "id_hashes" in col:
            loaded["id_hashes"] = col["id_hashes"][()]
        if loaded.get("id_hashes", np.zeros(0)).shape != (n,):
            loaded["image_ids"] = col["image_ids"][()]
        _verified(col, loaded)
        blob = loaded.get("image_ids")
        hashes = loaded["id_hashes"] if blob is None else fmt.id_hashes(blob, n)
        skipped, reasons = (fmt.ids_from(loaded[k], -1) for k in ("skipped", "skipped_reasons"))
        root, signature = str(col.attrs["root"]), str(col.attrs.get("signature", ""))
        side_files = "labels" in col or "tags" in col

    def read_blob() -> np.ndarray:
        if blob is not None:
            return blob
        with store._read() as h5, store._damage("collection"):
            ids = h5["collection/image_ids"][()]
            _verified(h5["collection"], {"image_ids": ids})
            return ids

    return CollectionHead(root=root, signature=signature, skipped=skipped,
                          skipped_reasons=reasons, side_files=side_files, n_images=n,
                          hashes=hashes, read_blob=read_blob)


def codes_bits(store: Store) -> int:
    with store._read() as h5, store._damage("codes"):
        return int(h5["codes"].attrs["n_bits"])
