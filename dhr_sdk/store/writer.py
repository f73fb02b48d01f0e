"""Element writers of one store edit (see :meth:`dhr_sdk.store.Store.edit`)."""

from __future__ import annotations

import json

import h5py
import numpy as np

from dhr_sdk.core.errors import StoreFormatError
from dhr_sdk.core.types import HashGraph, ImportanceList, RankResult
from dhr_sdk.store import format as fmt
from dhr_sdk.store import graph_parts as parts
from dhr_sdk.store.elements import CodesRecord, CollectionRecord, FeaturesRecord, ModelRecord
from dhr_sdk.store.format import Provenance
from dhr_sdk.store.integrity import element_digest

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


class StoreWriter:
    """Element writers inside one atomic edit (see :meth:`Store.edit`).

    Datasets are contiguous, or chunked and resizable when they grow with ``dhr add`` (no
    filters), and checked against the free space before they are written; :meth:`seal`
    gives every written element its checksum.
    """

    def __init__(self, h5: h5py.File) -> None:
        self.h5 = h5
        self._written: set[str] = set()

    def _replace(self, element: str) -> None:
        for name in (element, *DOWNSTREAM[element]):
            if name in self.h5:
                del self.h5[name]
        self._written.add(element)

    def seal(self) -> None:
        """Checksums of the elements written in this edit; the root's format version."""
        for path in sorted(self._written):
            if path in self.h5:
                obj = self.h5[path]
                obj.attrs[fmt.CHECKSUM] = element_digest(obj)
        found = str(self.h5.attrs.get("format_version", fmt.FORMAT_VERSION))
        if fmt.version_tuple(found) < fmt.version_tuple(fmt.FORMAT_VERSION):
            self.h5.attrs["format_version"] = fmt.FORMAT_VERSION

    def write_collection(self, rec: CollectionRecord) -> None:
        self._replace("collection")
        g = self.h5.create_group("collection")
        fmt.set_encoding(g, ENCODINGS["collection"])
        g.attrs["root"] = rec.root
        g.attrs["n_images"] = len(rec.image_ids)
        g.attrs["signature"] = rec.signature
        blob = fmt.ids_blob(rec.image_ids)
        fmt.write_array(g, "image_ids", blob, appendable=True)
        fmt.write_array(g, "id_hashes", fmt.id_hashes(blob, len(rec.image_ids)),
                        appendable=True)
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
        ds = fmt.write_array(g, rec.key, np.asarray(rec.features, dtype=np.float32),
                             appendable=True)
        fmt.set_encoding(ds, ENCODINGS["features"])
        ds.attrs["backbone"] = rec.backbone
        ds.attrs["backbone_params"] = json.dumps(rec.backbone_params, sort_keys=True)
        provenance.write(ds)
        self._written.add(f"features/{rec.key}")

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
            fmt.write_array(state, key, arr)

    def write_codes(self, rec: CodesRecord) -> None:
        self._replace("codes")
        ds = fmt.write_array(self.h5, "codes", rec.codes, appendable=True)
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
        fmt.write_array(g, "node_codes", graph.node_codes, appendable=True)
        fmt.write_array(g, "node_counts", graph.node_counts.astype(np.int64), appendable=True)
        fmt.write_array(g, "image_nodes", graph.image_nodes.astype(np.int64), appendable=True)
        if graph.merged:  # what 'dhr add' needs to grow the graph in place (graph_parts.py)
            n_comp, labels = parts.components(graph.adjacency)
            g.attrs["components"] = n_comp
            fmt.write_array(g, "node_components", labels, appendable=True)
            fmt.write_array(g, "node_degree",
                            parts.degree(graph.adjacency, graph.node_counts, graph.n_bits),
                            appendable=True)

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
        fmt.write_array(g, "node_scores", result.node_scores.astype(np.float64), appendable=True)

    def write_importance(self, il: ImportanceList, tie_rule: str) -> None:
        self._replace("importance")
        g = self.h5.create_group("importance")
        fmt.set_encoding(g, ENCODINGS["importance"])
        g.attrs["n_bits"] = il.n_bits
        g.attrs["tie_rule"] = tie_rule
        g.attrs["created"] = fmt.now()
        for name, arr in (("H", il.codes), ("S", il.scores), ("O", il.order), ("N", il.counts),
                          ("D_indptr", il.members_indptr), ("D", il.members)):
            fmt.write_array(g, name, arr, appendable=True)  # rewritten in place by dhr add
