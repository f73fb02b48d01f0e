"""Ranker ``shr``: the hash-based rank of section 5.2 (Eq. 11-14), one node per image.

``R <- D R`` from ``R^0 = 1`` with ``f_ij = (l - d_ij) / sum_{t in T_j} (l - d_tj)``, the
sum running over all neighbours of ``j`` including its identical codes (weight ``l``). A
merged graph is first expanded to the per-image graph (``n`` nodes, identical images
joined with weight ``l``) and the scores are iterated there, at the paper's original cost;
``node_scores[t]`` is then the mean over node ``t``'s images (equal in exact arithmetic).

The default ``solver="closed"`` returns that iteration's exact limit (per connected
component, see ``_solvers.closed_form``), which also exists where the undamped iteration
oscillates (bipartite components); ``-p solver=power`` runs the paper's iteration.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from dhr_plugins.rankers._common import RankParams, rank_nodes
from dhr_sdk import QUIET, HashGraph, Progress, Ranker, RankResult, hookimpl


class SHRRanker(Ranker):
    """Hash-based rank on the per-image graph (the paper's baseline for CPR)."""

    name: ClassVar[str] = "shr"
    summary: ClassVar[str] = "Hash-based PageRank with one node per image (Eq. 11-14)"
    Params: ClassVar[type[RankParams]] = RankParams
    params: RankParams
    conformance_params: ClassVar[dict[str, Any]] = {}

    def rank(self, graph: HashGraph, progress: Progress = QUIET) -> RankResult:
        images = graph.per_image()
        if graph.merged:
            progress.log(f"shr: expanded {graph.n_nodes} nodes to {images.n_nodes} images, "
                         f"{images.n_edges} edges")
        result = rank_nodes(self.name, images.adjacency, images.node_counts, graph.n_bits,
                            self.params, progress)
        if graph.merged:
            sums = np.bincount(graph.image_nodes, weights=result.node_scores,
                               minlength=graph.n_nodes)
            result.node_scores = sums / graph.node_counts
            result.info["image_nodes"] = images.n_nodes
            result.info["image_edges"] = images.n_edges
        return result


@hookimpl
def register_rankers(register: Any) -> None:
    register(SHRRanker)
