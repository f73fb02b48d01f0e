"""Ranker ``cpr``: Cluster PageRank on the merged graph (framework paper section 5.3).

Iterates the cluster masses ``X_t = num_t R_t`` with Eq. (16)'s matrix ``D^`` (diagonal
``(num_t - 1) f_tt`` for the ``num_t - 1`` identical images, off-diagonal ``num_t f_ts``),
starting from ``X^0_t = num_t``, and returns ``R_t = X_t / num_t`` (Eq. 17 without the
paper's ``n / m`` factor, which is exact only on connected graphs; see ``_solvers``).
``node_scores[t]`` is the score of each image of node ``t`` and equals SHR's per-image score
on the expanded graph, on any graph. On a per-image graph (all ``num_t = 1``) CPR is SHR.

The default ``solver="closed"`` returns the iteration's exact limit in O(E), which also
exists where the undamped iteration oscillates (bipartite components, common on real
stores); ``-p solver=power`` runs the paper's iteration.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dhr_plugins.rankers._common import RankParams, rank_nodes
from dhr_sdk import QUIET, HashGraph, Progress, Ranker, RankResult, hookimpl


class CPRRanker(Ranker):
    """Cluster PageRank: SHR's scores computed on one node per distinct code."""

    name: ClassVar[str] = "cpr"
    summary: ClassVar[str] = "Cluster PageRank on merged identical codes (Eq. 16-18)"
    Params: ClassVar[type[RankParams]] = RankParams
    params: RankParams
    conformance_params: ClassVar[dict[str, Any]] = {}

    def rank(self, graph: HashGraph, progress: Progress = QUIET) -> RankResult:
        return rank_nodes(self.name, graph.adjacency, graph.node_counts, graph.n_bits,
                          self.params, progress)


@hookimpl
def register_rankers(register: Any) -> None:
    register(CPRRanker)
