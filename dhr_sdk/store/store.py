"""The dhr store: one HDF5 file per collection (or per model) holding every artifact.

Elements form a chain ``collection -> features -> model -> codes -> graph -> rank ->
importance``; writing an element removes the elements downstream of it, which were
computed from the old content. Schema: docs/file-format.md.

Reading trusts nothing the file says beyond itself: a file that links or stores data
outside itself is refused, every element's checksum (format 1.1) and values are checked,
and any damage is one :class:`StoreDamagedError` naming the store and the element.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from dhr_sdk.core.errors import DhrError, MissingElementError, StoreFormatError
from dhr_sdk.core.types import HashGraph, ImportanceList, RankResult
from dhr_sdk.store import format as fmt
from dhr_sdk.store import integrity as chk
from dhr_sdk.store.atomic import atomic_edit, display_path
from dhr_sdk.store.describe import checksum_state, describe
from dhr_sdk.store.elements import CodesRecord, CollectionRecord, FeaturesRecord, ModelRecord
from dhr_sdk.store.errors import StoreDamagedError
from dhr_sdk.store.format import Provenance
from dhr_sdk.store.graph_parts import insert_edges
from dhr_sdk.store.journal import shared_lock
from dhr_sdk.store.reading import (
    READ_ERRORS,
    REBUILD,
    attr,
    csr,
    ds,
    first_line,
    json_attr,
    open_checked,
    provenance,
    strings,
)
from dhr_sdk.store.rollback import recover
from dhr_sdk.store.writer import DOWNSTREAM, ELEMENTS, ENCODINGS, StoreWriter

__all__ = ["DOWNSTREAM", "ELEMENTS", "ENCODINGS", "Store", "StoreWriter"]

class Store:
    """Read access to a store file; writes go through :meth:`edit` (atomic)."""

    def __init__(self, path: str | Path) -> None:
        self._file = Path(path)
        self.path = display_path(path)
        """The store's path (inside a :func:`~dhr_sdk.store.staged` command: the store the
        working copy will replace, for messages; the copy is what is read and written)."""
        self.checksums: dict[str, str] = {}
        """Per element read so far: ``verified``, or ``none`` for a format 1.0 element."""
        open_checked(self._file).close()

    @classmethod
    def create(cls, path: str | Path, *, overwrite: bool = False) -> Store:
        """Create an empty store (refuses to clobber an existing file unless ``overwrite``)."""
        p = Path(path)
        if p.exists() and not overwrite:
            raise StoreFormatError(f"{display_path(p)} already exists (use --overwrite to "
                                   "replace it)")
        with atomic_edit(p, new=True) as h5:
            h5.attrs["format"] = fmt.FORMAT_NAME
            h5.attrs["format_version"] = fmt.FORMAT_VERSION
            h5.attrs["sdk_version"] = fmt.__version__
            h5.attrs["created"] = fmt.now()
        return cls(p)

    @classmethod
    def open_or_create(cls, path: str | Path) -> Store:
        return cls(path) if Path(path).exists() else cls.create(path)

    @contextmanager
    def _read(self) -> Iterator[h5py.File]:
        if self._file.exists():
            recover(self._file)  # before the shared lock, which a rollback would wait for
        with shared_lock(self._file):  # never while an in-place commit writes (journal.py)
            h5 = open_checked(self._file)
            try:
                yield h5
            finally:
                h5.close()

    @contextmanager
    def edit(self) -> Iterator[StoreWriter]:
        """Atomic edit: all writes inside the block land together, or not at all."""
        with atomic_edit(self._file) as h5:
            writer = StoreWriter(h5)
            yield writer
            writer.seal()

    @contextmanager
    def _damage(self, element: str) -> Iterator[None]:
        """Any failure to read ``element`` as one line naming the store and the element."""
        try:
            yield
        except READ_ERRORS as exc:
            base = element.split("/")[0]
            raise StoreDamagedError(
                f"{self.path}: element '{element}' is damaged: {first_line(exc)}; "
                f"{REBUILD[base]}") from None

    def _verify(self, name: str, obj: h5py.HLObject, loaded: dict[str, Any]) -> None:
        version = fmt.version_tuple(str(obj.attrs.get(fmt.ENCODING_VERSION, "0")))
        had = chk.verify(obj, version >= fmt.CHECKSUM_SINCE, loaded)
        self.checksums[name] = "verified" if had else "none"

    def has(self, element: str) -> bool:
        with self._read() as h5:
            return element in h5

    def elements(self) -> list[str]:
        with self._read() as h5:
            return [e for e in ELEMENTS if e in h5]

    def _element(self, h5: h5py.File, element: str) -> Any:
        if element not in h5:
            hint = {"graph": "run 'dhr graph' first", "rank": "run 'dhr rank' first",
                    "importance": "run 'dhr rank' first", "codes": "run 'dhr encode' first",
                    "model": "run 'dhr fit' first"}.get(element, "")
            raise MissingElementError(
                f"{self.path} has no {element}" + (f"; {hint}" if hint else ""))
        obj = h5[element]
        fmt.check_encoding(obj, ENCODINGS[element.split("/")[0]],
                          f"element '{element}' of {self.path}")
        return obj

    @staticmethod
    def _n_images(h5: h5py.File) -> int | None:
        """The collection's image count, when the store has a readable one."""
        col = h5.get("collection")
        n = col.attrs.get("n_images") if isinstance(col, h5py.Group) else None
        return None if n is None else int(n)

    def read_collection(self) -> CollectionRecord:
        with self._read() as h5, self._damage("collection"):
            g = self._element(h5, "collection")
            loaded = {k: ds(g, k)[()] for k in ("image_ids", "skipped", "skipped_reasons")}
            ids = fmt.ids_from(loaded["image_ids"], int(attr(g, "n_images")))
            rec = CollectionRecord(
                image_ids=ids, root=str(attr(g, "root")),
                skipped=strings(loaded["skipped"]),
                skipped_reasons=strings(loaded["skipped_reasons"]),
                signature=str(g.attrs.get("signature", "")))
            if int(attr(g, "n_images")) != len(ids):
                raise chk.Damage(f"it has {len(ids)} image ids but declares "
                                 f"{attr(g, 'n_images')}")
            if len(rec.skipped) != len(rec.skipped_reasons):
                raise chk.Damage("its skipped files and reasons differ in number")
            for kind in ("labels", "tags"):
                if kind in g:
                    matrix = csr(g, kind, loaded)
                    names_ds = ds(g, f"{kind}_names")
                    loaded[f"{kind}_names"] = names_ds[()]
                    names = strings(loaded[f"{kind}_names"])
                    if matrix.shape != (len(ids), len(names)):
                        raise chk.Damage(f"its {kind} are {matrix.shape} for {len(ids)} images "
                                         f"and {len(names)} names")
                    setattr(rec, kind, matrix)
                    setattr(rec, f"{kind[:-1]}_names", names)
            self._verify("collection", g, loaded)
            return rec

    def read_image_ids(self, rows: Sequence[int]) -> list[str]:
        """The ids of the images at store rows ``rows``: the collection is verified as by
        :meth:`read_collection`, but only these ids are decoded (``dhr rank`` shows ten of
        a million)."""
        with self._read() as h5, self._damage("collection"):
            g = self._element(h5, "collection")
            loaded = {k: ds(g, k)[()] for k in ("image_ids", "skipped", "skipped_reasons")}
            n = int(attr(g, "n_images"))
            if any(not 0 <= int(r) < n for r in rows):
                raise DhrError(f"image rows out of range for {n} images")
            try:
                ids = fmt.ids_at(loaded["image_ids"], n, rows)
            except ValueError as exc:
                raise chk.Damage(str(exc)) from None
            self._verify("collection", g, loaded)
            return ids

    def feature_keys(self) -> list[str]:
        with self._read() as h5:
            return sorted(h5["features"]) if "features" in h5 else []

    def read_features(self, key: str) -> FeaturesRecord:
        with self._read() as h5:
            if "features" not in h5 or key not in h5["features"]:
                raise MissingElementError(f"{self.path} has no features {key!r}")
            with self._damage(f"features/{key}"):
                ds = h5["features"][key]
                fmt.check_encoding(ds, ENCODINGS["features"],
                                   f"element 'features/{key}' of {self.path}")
                feats = ds[()]
                n = self._n_images(h5)
                if feats.ndim != 2 or feats.dtype.kind != "f" or (n is not None
                                                                  and feats.shape[0] != n):
                    raise chk.Damage(f"it is {feats.dtype} {feats.shape}, not one float row per "
                                     f"image ({n})")
                self._verify(f"features/{key}", ds, {"": feats})
                return FeaturesRecord(key, feats, str(attr(ds, "backbone")),
                                      json_attr(ds, "backbone_params"))

    def read_model(self) -> ModelRecord:
        with self._read() as h5, self._damage("model"):
            g = self._element(h5, "model")
            state: dict[str, np.ndarray] = {}
            group = g.get("state")
            if not isinstance(group, h5py.Group):
                raise chk.Damage("its group 'state' is missing")
            group.visititems(lambda name, obj: state.__setitem__(name, obj[()])
                             if isinstance(obj, h5py.Dataset) else None)
            bad = sorted(k for k, v in state.items() if np.asarray(v).dtype.kind not in "biuf")
            if bad:
                raise chk.Damage(f"its state array {bad[0]!r} is not numeric")
            self._verify("model", g, {f"state/{k}": v for k, v in state.items()})
            prov = provenance(g)
            n_bits = chk.check_n_bits(int(attr(g, "n_bits")))
            return ModelRecord(
                hasher=str(attr(g, "hasher")), params=prov.params, state=state,
                n_bits=n_bits, backbone=str(attr(g, "backbone")),
                backbone_params=json_attr(g, "backbone_params"), provenance=prov)

    def read_codes(self) -> CodesRecord:
        with self._read() as h5, self._damage("codes"):
            ds = self._element(h5, "codes")
            if not isinstance(ds, h5py.Dataset):
                raise chk.Damage("it is not a dataset")
            codes = ds[()]
            n_bits = int(attr(ds, "n_bits"))
            chk.check_codes(codes, n_bits)
            n = self._n_images(h5)
            if n is not None and codes.shape[0] != n:
                raise chk.Damage(f"it has {codes.shape[0]} codes for {n} images")
            self._verify("codes", ds, {"": codes})
            return CodesRecord(codes, n_bits, provenance(ds))

    def read_graph(self) -> HashGraph:
        with self._read() as h5, self._damage("graph"):
            g = self._element(h5, "graph")
            loaded = {k: ds(g, k)[()] for k in ("node_codes", "node_counts", "image_nodes")}
            adjacency = csr(g, "adjacency", loaded)
            m = loaded["node_codes"].shape[0]
            if "added_edges" in g:  # format 2.0: edges appended by 'dhr add'
                parts = [ds(g["added_edges"], k)[()] for k in ("i", "j", "weight")]
                loaded.update({f"added_edges/{k}": v
                               for k, v in zip(("i", "j", "weight"), parts, strict=True)})
                chk.check_added_edges(adjacency.shape[0], m, *parts)
                adjacency = insert_edges(adjacency, m, *parts)
            for part in ("node_components", "node_degree"):
                if part in g:
                    loaded[part] = ds(g, part)[()]
                    chk.check_node_part(loaded[part], m, part)
            graph = HashGraph(
                n_bits=int(attr(g, "n_bits")), radius=int(attr(g, "radius")),
                node_codes=loaded["node_codes"], node_counts=loaded["node_counts"],
                image_nodes=loaded["image_nodes"], adjacency=adjacency,
                merged=bool(attr(g, "merged")))
            chk.check_graph(graph.n_bits, graph.node_codes, graph.node_counts,
                            graph.image_nodes, adjacency, graph.merged)
            self._verify("graph", g, loaded)
            return graph

    def read_rank(self) -> RankResult:
        with self._read() as h5, self._damage("rank"):
            g = self._element(h5, "rank")
            scores = ds(g, "node_scores")[()]
            chk.check_finite(scores, "node scores")
            graph = h5.get("graph")
            nodes = graph.get("node_codes") if isinstance(graph, h5py.Group) else None
            if isinstance(nodes, h5py.Dataset) and nodes.shape[0] != scores.shape[0]:
                raise chk.Damage(f"it has {scores.shape[0]} scores for {nodes.shape[0]} nodes")
            self._verify("rank", g, {"node_scores": scores})
            return RankResult(
                node_scores=scores, method=str(attr(g, "method")),
                iterations=int(attr(g, "iterations")), converged=bool(attr(g, "converged")),
                residual=float(attr(g, "residual")), info=json_attr(g, "info"))

    def read_importance(self) -> ImportanceList:
        with self._read() as h5, self._damage("importance"):
            g = self._element(h5, "importance")
            cols = {k: ds(g, k)[()] for k in ("H", "S", "O", "N", "D_indptr", "D")}
            il = ImportanceList(
                n_bits=int(attr(g, "n_bits")), codes=cols["H"], scores=cols["S"],
                order=cols["O"], counts=cols["N"], members_indptr=cols["D_indptr"],
                members=cols["D"])
            chk.check_importance(il.n_bits, il.codes, il.scores, il.order, il.counts,
                                 il.members_indptr, il.members)
            n = self._n_images(h5)
            if n is not None and il.n_images != n:
                raise chk.Damage(f"it lists {il.n_images} images but the collection has {n}")
            self._verify("importance", g, cols)
            return il

    def provenance(self, element: str) -> Provenance:
        with self._read() as h5, self._damage(element):
            return provenance(self._element(h5, element))

    def verify(self) -> dict[str, str]:
        """Read and check every element: ``{element: "verified" | "none"}`` (``none``: a
        format 1.0 element, written without a checksum). Raises on the first damage."""
        self.checksums = {}
        present = self.elements()
        readers = {"collection": self.read_collection, "model": self.read_model,
                   "codes": self.read_codes, "graph": self.read_graph,
                   "rank": self.read_rank, "importance": self.read_importance}
        for name in present:
            if name == "features":
                for key in self.feature_keys():
                    self.read_features(key)
            else:
                readers[name]()
        return dict(self.checksums)

    def summary(self) -> dict[str, Any]:
        """What the file holds, for ``dhr info`` (JSON-serialisable); every element is
        verified first (:meth:`verify`)."""
        checksums = self.verify()
        with self._read() as h5:
            out: dict[str, Any] = {
                "path": str(self.path), "format": fmt.FORMAT_NAME,
                "format_version": str(h5.attrs["format_version"]),
                "sdk_version": str(h5.attrs.get("sdk_version", "")),
                "created": str(h5.attrs.get("created", "")), "elements": {}}
            for name in ELEMENTS:
                if name in h5:
                    with self._damage(name):
                        out["elements"][name] = describe(name, h5[name])
                    out["elements"][name]["checksum"] = checksum_state(name, checksums)
            return out
