"""``dhr add`` in place on a format 2.0 store ranked by CPR's undamped closed form.

Reads only what growth needs (:func:`dhr_sdk.store.growth.read_growth_base`), searches the
new codes' neighbourhoods (:func:`dhr_sdk.offline.grow_graph.search_growth`), updates
counts, degrees, components and the touched components' scores from the new edges and the
rows of nodes that gained images (:mod:`dhr_sdk.offline.grow_local`), merges the importance
list (:func:`dhr_sdk.offline.grow_importance.grown_importance`), and appends it all in one
journaled in-place edit (:func:`dhr_sdk.store.growth.write_growth`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.progress import Progress
from dhr_sdk.core.types import RankResult
from dhr_sdk.offline.grow_graph import search_growth
from dhr_sdk.offline.grow_importance import StoredRows, grown_importance
from dhr_sdk.offline.grow_local import grow_local
from dhr_sdk.offline.importance import TIE_RULE
from dhr_sdk.store import CollectionRecord, Store
from dhr_sdk.store.growth import GrowthBase, GrowthWrite, adjacency_rows, write_growth
from dhr_sdk.store.provenance import provenance_of


def _stored_rows(base: GrowthBase) -> StoredRows:
    """The stored importance list's rows: each row's node is the node of its first image."""
    first = base.members[base.members_indptr[:-1]]
    return StoredRows(base.image_nodes[first], base.members_indptr, base.members)


def add_in_place(store: Store, base: GrowthBase, codes: np.ndarray, col: CollectionRecord,
                 names: list[str], gone: Mapping[str, str], features: Mapping[str, Any],
                 builder: Any, ranker: Any, start: float, progress: Progress
                 ) -> dict[str, Any]:
    """Grow ``store`` by ``codes`` in place; returns the report's fields."""
    n_old, m0 = base.image_nodes.size, base.node_codes.shape[0]
    progress.log(f"adding {codes.shape[0]} codes to {store.path} ({m0} nodes, in place)")
    rows = {}
    for key, dim in base.feature_dims.items():
        if key in features:
            given = np.asarray(features[key], dtype=np.float32)
            if given.shape != (codes.shape[0], dim):
                raise DhrError(f"features {key}: {given.shape} for {codes.shape[0]} new images "
                               f"of {dim} dimensions")
            rows[key] = given
    s = search_growth(base.node_codes, base.n_bits, base.radius, codes)
    local = grow_local(s, base.node_counts, base.node_degree, base.node_components,
                       base.n_components, base.scores, base.n_bits,
                       lambda nodes: adjacency_rows(store, nodes))
    node_codes = np.concatenate([base.node_codes, s.distinct[s.fresh]])
    new_image_nodes = s.node_of[s.inverse]
    importance = grown_importance(base.n_bits, _stored_rows(base), node_codes, local.scores,
                                  local.counts, local.touched, new_image_nodes)
    m, n_edges = node_codes.shape[0], base.n_edges + int(s.i.size)
    info = {**base.rank.info, "nodes": m, "edges": n_edges, "images": n_old + codes.shape[0],
            "components": local.n_components, "isolated_nodes": local.isolated_nodes,
            "seconds": round(time.perf_counter() - start, 6)}
    result = RankResult(node_scores=local.scores, method=base.rank.method, iterations=0,
                        converged=True, residual=0.0, info=info)
    write_growth(store._file, GrowthWrite(
        new_ids=names, skipped=col.skipped, skipped_reasons=col.skipped_reasons,
        signature=col.signature, codes=codes, features=rows,
        dropped=[k for k in base.feature_dims if k not in rows],
        new_node_codes=s.distinct[s.fresh], new_image_nodes=new_image_nodes,
        edges=(s.i, s.j, s.weight), node_counts=local.counts,
        node_components=local.labels, node_degree=local.degree,
        n_components=local.n_components, graph_provenance=provenance_of(builder),
        rank=result, rank_provenance=provenance_of(ranker), importance=importance,
        tie_rule=TIE_RULE,
        previous={"node_counts": base.node_counts, "node_components": base.node_components,
                  "node_degree": base.node_degree, "node_scores": base.scores}))
    return {"store": str(store.path), "images_added": codes.shape[0],
            "images": n_old + codes.shape[0], "new_distinct_codes": m - m0, "nodes": m,
            "new_edges": int(s.i.size), "edges": n_edges,
            "components_reranked": local.touched_components,
            "components": local.n_components, "reranked": "touched", "reason": "",
            "skipped": [{"image": k, "reason": gone[k]} for k in sorted(gone)],
            "dropped_features": [k for k in base.feature_dims if k not in rows]}
