"""The dhr store: one HDF5 file per collection (or per model) holding every artifact.

Elements form a chain ``collection -> features -> model -> codes -> graph -> rank ->
importance``; writing an element removes the elements downstream of it, which were
computed from the old content. Schema: docs/file-format.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from dhr_sdk.core.errors import MissingElementError, StoreFormatError
from dhr_sdk.core.types import HashGraph, ImportanceList, RankResult
from dhr_sdk.store import format as fmt
from dhr_sdk.store.atomic import atomic_edit
from dhr_sdk.store.elements import CodesRecord, CollectionRecord, FeaturesRecord, ModelRecord
from dhr_sdk.store.format import Provenance

ELEMENTS = ("collection", "features", "model", "codes", "graph", "rank", "importance")
DOWNSTREAM = {
    "collection": ("features", "model", "codes", "graph", "rank", "importance"),
    "features": (),
    "model": ("codes", "graph", "rank", "importance"),
    "codes": ("graph", "rank", "importance"),
    "graph": ("rank", "importance"),
    "rank": ("importance",),
    "importance": (),
}
ENCODINGS = {
    "collection": "dhr-collection", "features": "dhr-features", "model": "dhr-model",
    "codes": "dhr-codes", "graph": "dhr-graph", "rank": "dhr-rank",
    "importance": "dhr-importance-list",
}


def _open_checked(path: Path) -> h5py.File:
    if not path.exists():
        raise StoreFormatError(f"{path} does not exist")
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise StoreFormatError(f"{path} is not a dhr store (not an HDF5 file)") from None
    if h5.attrs.get("format") != fmt.FORMAT_NAME:
        h5.close()
        raise StoreFormatError(f"{path} is not a dhr store (no '{fmt.FORMAT_NAME}' format tag)")
    try:
        fmt.check_version(f"store {path}", str(h5.attrs.get("format_version", "0")))
    except StoreFormatError:
        h5.close()
        raise
    return h5


class StoreWriter:
    """Element writers inside one atomic edit (see :meth:`Store.edit`)."""

    def __init__(self, h5: h5py.File) -> None:
        self.h5 = h5

    def _replace(self, element: str) -> None:
        for name in (element, *DOWNSTREAM[element]):
            if name in self.h5:
                del self.h5[name]

    def write_collection(self, rec: CollectionRecord) -> None:
        self._replace("collection")
        g = self.h5.create_group("collection")
        fmt.set_encoding(g, ENCODINGS["collection"])
        g.attrs["root"] = rec.root
        g.attrs["n_images"] = len(rec.image_ids)
        g.attrs["signature"] = rec.signature
        fmt.write_strings(g, "image_ids", rec.image_ids)
        fmt.write_strings(g, "skipped", rec.skipped)
        fmt.write_strings(g, "skipped_reasons", rec.skipped_reasons)
        for kind, matrix, names in (("labels", rec.labels, rec.label_names),
                                    ("tags", rec.tags, rec.tag_names)):
            if matrix is not None:
                fmt.write_csr(g, kind, matrix)
                fmt.write_strings(g, f"{kind}_names", names)

    def write_features(self, rec: FeaturesRecord, provenance: Provenance) -> None:
        g = self.h5.require_group("features")
        if rec.key in g:
            del g[rec.key]
        ds = g.create_dataset(rec.key, data=np.asarray(rec.features, dtype=np.float32),
                              chunks=True)
        fmt.set_encoding(ds, ENCODINGS["features"])
        ds.attrs["backbone"] = rec.backbone
        ds.attrs["backbone_params"] = json.dumps(rec.backbone_params, sort_keys=True)
        provenance.write(ds)

    def write_model(self, rec: ModelRecord) -> None:
        self._replace("model")
        g = self.h5.create_group("model")
        fmt.set_encoding(g, ENCODINGS["model"])
        rec.provenance.write(g)
        g.attrs["hasher"] = rec.hasher
        g.attrs["n_bits"] = rec.n_bits
        g.attrs["backbone"] = rec.backbone
        g.attrs["backbone_params"] = json.dumps(rec.backbone_params, sort_keys=True)
        state = g.create_group("state")
        for key, value in rec.state.items():
            arr = np.asarray(value)
            if arr.dtype == object:
                raise StoreFormatError(f"model state {key!r} is an object array; use plain arrays")
            state.create_dataset(key, data=arr)

    def write_codes(self, rec: CodesRecord) -> None:
        self._replace("codes")
        ds = self.h5.create_dataset("codes", data=rec.codes, chunks=True)
        fmt.set_encoding(ds, ENCODINGS["codes"])
        ds.attrs["n_bits"] = rec.n_bits
        rec.provenance.write(ds)

    def write_graph(self, graph: HashGraph, provenance: Provenance) -> None:
        self._replace("graph")
        g = self.h5.create_group("graph")
        fmt.set_encoding(g, ENCODINGS["graph"])
        provenance.write(g)
        g.attrs["n_bits"] = graph.n_bits
        g.attrs["radius"] = graph.radius
        g.attrs["merged"] = graph.merged
        fmt.write_csr(g, "adjacency", graph.adjacency)
        g.create_dataset("node_codes", data=graph.node_codes, chunks=True)
        g.create_dataset("node_counts", data=graph.node_counts.astype(np.int64), chunks=True)
        g.create_dataset("image_nodes", data=graph.image_nodes.astype(np.int64), chunks=True)

    def write_rank(self, result: RankResult, provenance: Provenance) -> None:
        self._replace("rank")
        g = self.h5.create_group("rank")
        fmt.set_encoding(g, ENCODINGS["rank"])
        provenance.write(g)
        g.attrs["method"] = result.method
        g.attrs["iterations"] = result.iterations
        g.attrs["converged"] = result.converged
        g.attrs["residual"] = result.residual
        g.attrs["info"] = json.dumps(result.info, sort_keys=True)
        g.create_dataset("node_scores", data=result.node_scores.astype(np.float64), chunks=True)

    def write_importance(self, il: ImportanceList, tie_rule: str) -> None:
        self._replace("importance")
        g = self.h5.create_group("importance")
        fmt.set_encoding(g, ENCODINGS["importance"])
        g.attrs["n_bits"] = il.n_bits
        g.attrs["tie_rule"] = tie_rule
        g.attrs["created"] = fmt.now()
        for name, arr in (("H", il.codes), ("S", il.scores), ("O", il.order), ("N", il.counts),
                          ("D_indptr", il.members_indptr), ("D", il.members)):
            g.create_dataset(name, data=arr, chunks=True if arr.size else None)


class Store:
    """Read access to a store file; writes go through :meth:`edit` (atomic)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _open_checked(self.path).close()

    @classmethod
    def create(cls, path: str | Path, *, overwrite: bool = False) -> Store:
        """Create an empty store (refuses to clobber an existing file unless ``overwrite``)."""
        p = Path(path)
        if p.exists() and not overwrite:
            raise StoreFormatError(f"{p} already exists (use --overwrite to replace it)")
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
        h5 = _open_checked(self.path)
        try:
            yield h5
        finally:
            h5.close()

    @contextmanager
    def edit(self) -> Iterator[StoreWriter]:
        """Atomic edit: all writes inside the block land together, or not at all."""
        with atomic_edit(self.path) as h5:
            yield StoreWriter(h5)

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
        fmt.check_encoding(obj, ENCODINGS[element], f"element '{element}' of {self.path}")
        return obj

    def read_collection(self) -> CollectionRecord:
        with self._read() as h5:
            g = self._element(h5, "collection")
            rec = CollectionRecord(
                image_ids=fmt.read_strings(g, "image_ids"), root=str(g.attrs.get("root", "")),
                skipped=fmt.read_strings(g, "skipped"),
                skipped_reasons=fmt.read_strings(g, "skipped_reasons"),
                signature=str(g.attrs.get("signature", "")))
            if "labels" in g:
                rec.labels = fmt.read_csr(g, "labels")
                rec.label_names = fmt.read_strings(g, "labels_names")
            if "tags" in g:
                rec.tags = fmt.read_csr(g, "tags")
                rec.tag_names = fmt.read_strings(g, "tags_names")
            return rec

    def feature_keys(self) -> list[str]:
        with self._read() as h5:
            return sorted(h5["features"]) if "features" in h5 else []

    def read_features(self, key: str) -> FeaturesRecord:
        with self._read() as h5:
            if "features" not in h5 or key not in h5["features"]:
                raise MissingElementError(f"{self.path} has no features {key!r}")
            ds = h5["features"][key]
            fmt.check_encoding(ds, ENCODINGS["features"], f"features {key!r} of {self.path}")
            return FeaturesRecord(key, ds[()], str(ds.attrs["backbone"]),
                                  json.loads(ds.attrs["backbone_params"]))

    def read_model(self) -> ModelRecord:
        with self._read() as h5:
            g = self._element(h5, "model")
            state: dict[str, np.ndarray] = {}
            g["state"].visititems(
                lambda name, obj: state.__setitem__(name, obj[()])
                if isinstance(obj, h5py.Dataset) else None)
            prov = Provenance.read(g)
            return ModelRecord(
                hasher=str(g.attrs["hasher"]), params=prov.params, state=state,
                n_bits=int(g.attrs["n_bits"]), backbone=str(g.attrs["backbone"]),
                backbone_params=json.loads(g.attrs["backbone_params"]), provenance=prov)

    def read_codes(self) -> CodesRecord:
        with self._read() as h5:
            ds = self._element(h5, "codes")
            return CodesRecord(ds[()], int(ds.attrs["n_bits"]), Provenance.read(ds))

    def read_graph(self) -> HashGraph:
        with self._read() as h5:
            g = self._element(h5, "graph")
            return HashGraph(
                n_bits=int(g.attrs["n_bits"]), radius=int(g.attrs["radius"]),
                node_codes=g["node_codes"][()], node_counts=g["node_counts"][()],
                image_nodes=g["image_nodes"][()], adjacency=fmt.read_csr(g, "adjacency"),
                merged=bool(g.attrs["merged"]))

    def read_rank(self) -> RankResult:
        with self._read() as h5:
            g = self._element(h5, "rank")
            return RankResult(
                node_scores=g["node_scores"][()], method=str(g.attrs["method"]),
                iterations=int(g.attrs["iterations"]), converged=bool(g.attrs["converged"]),
                residual=float(g.attrs["residual"]), info=json.loads(g.attrs["info"]))

    def read_importance(self) -> ImportanceList:
        with self._read() as h5:
            g = self._element(h5, "importance")
            return ImportanceList(
                n_bits=int(g.attrs["n_bits"]), codes=g["H"][()], scores=g["S"][()],
                order=g["O"][()], counts=g["N"][()], members_indptr=g["D_indptr"][()],
                members=g["D"][()])

    def provenance(self, element: str) -> Provenance:
        with self._read() as h5:
            return Provenance.read(self._element(h5, element))

    def summary(self) -> dict[str, Any]:
        """What the file holds, for ``dhr info`` (JSON-serialisable)."""
        with self._read() as h5:
            out: dict[str, Any] = {
                "path": str(self.path), "format": fmt.FORMAT_NAME,
                "format_version": str(h5.attrs["format_version"]),
                "sdk_version": str(h5.attrs.get("sdk_version", "")),
                "created": str(h5.attrs.get("created", "")), "elements": {}}
            for name in ELEMENTS:
                if name in h5:
                    out["elements"][name] = _describe(name, h5[name])
            return out


def _describe(name: str, obj: Any) -> dict[str, Any]:
    a = obj.attrs
    d: dict[str, Any] = {"encoding_version": str(a.get(fmt.ENCODING_VERSION, ""))}
    if "plugin" in a:
        d["provenance"] = Provenance.read(obj).to_dict()
    if name == "collection":
        d.update(n_images=int(a["n_images"]), root=str(a["root"]),
                 skipped=len(obj["skipped"]) if "skipped" in obj else 0,
                 labels="labels" in obj, tags="tags" in obj)
    elif name == "features":
        d["sets"] = {k: {"shape": list(obj[k].shape), "backbone": str(obj[k].attrs["backbone"])}
                     for k in obj}
    elif name == "model":
        d.update(hasher=str(a["hasher"]), n_bits=int(a["n_bits"]), backbone=str(a["backbone"]))
    elif name == "codes":
        d.update(n_codes=int(obj.shape[0]), n_bits=int(a["n_bits"]))
    elif name == "graph":
        n_nodes = int(obj["node_codes"].shape[0])
        indptr = obj["adjacency"]["indptr"][()]
        degree = np.diff(indptr)
        d.update(nodes=n_nodes, edges=int(obj["adjacency"]["indices"].shape[0] // 2),
                 images=int(obj["image_nodes"].shape[0]), radius=int(a["radius"]),
                 merged=bool(a["merged"]), isolated_nodes=int((degree == 0).sum()))
        adjacency = sp.csr_matrix((np.ones(len(obj["adjacency"]["indices"])),
                                   obj["adjacency"]["indices"][()], indptr),
                                  shape=(n_nodes, n_nodes))
        d["components"] = int(csgraph.connected_components(adjacency, directed=False)[0])
    elif name == "rank":
        d.update(method=str(a["method"]), iterations=int(a["iterations"]),
                 converged=bool(a["converged"]), residual=float(a["residual"]),
                 info=json.loads(a["info"]))
    elif name == "importance":
        d.update(rows=int(obj["H"].shape[0]), tie_rule=str(a["tie_rule"]))
    return d
