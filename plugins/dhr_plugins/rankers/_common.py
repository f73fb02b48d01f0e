"""Params and the shared driver of the SHR and CPR rankers."""

from __future__ import annotations

import time
import warnings
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from dhr_plugins.rankers import _solvers
from dhr_sdk import Params, Progress, RankResult


class ConvergenceWarning(UserWarning):
    """The power iteration stopped at ``max_iter`` without meeting ``eps``."""


class RankParams(Params):
    solver: Literal["closed", "power"] = Field("closed", description=(
        "'closed' (default): the exact limit in O(E) (R_i = |C| w_i / sum_C w per connected "
        "component), or one sparse solve when damping < 1; always converges, also on "
        "bipartite components. 'power': the paper's iteration R <- D R from R0 = 1 "
        "(Eq. 14/16), stopped by eps and max_iter."))
    eps: float = Field(1e-4, gt=0, description=(
        "solver=power: stop when every |R^{k+1} - R^k| <= eps "
        "(absolute, per image score; the paper's 0.0001)."))
    max_iter: int = Field(1000, ge=1, description=(
        "solver=power: bound on the iterations; reaching it is reported as non-convergence "
        "(e.g. a bipartite component oscillates under the undamped iteration)."))
    damping: float = Field(1.0, gt=0, le=1, description=(
        "1.0 = the paper's undamped iteration. < 1 = standard PageRank teleport "
        "(networkx semantics, scores scaled to mean 1), e.g. 0.85; converges on any graph."))


def rank_nodes(name: str, adjacency: sp.csr_matrix, counts: np.ndarray, n_bits: int,
               params: RankParams, progress: Progress) -> RankResult:
    """Scores per node of a graph with image counts ``counts`` (see ``_solvers``)."""
    start = time.perf_counter()
    adjacency = sp.csr_matrix(adjacency, dtype=np.float64)
    w = _solvers.weighted_degree(adjacency, counts, n_bits)
    p = params
    labels, info = _solvers.structure(adjacency, counts, w, bipartite=False)
    if p.solver == "closed" and p.damping == 1.0:
        scores = _solvers.closed_form(adjacency, counts, w, labels)
        iterations, converged, residual = 0, True, 0.0
    else:
        matrix = _solvers.mass_matrix(adjacency, counts, n_bits, w)
        if p.solver == "closed":
            scores = _solvers.damped_closed_form(matrix, counts, w, p.damping)
            iterations, converged, residual = 0, True, 0.0
        else:
            scores, iterations, converged, residual = _solvers.power_iteration(
                matrix, counts, w, p.eps, p.max_iter, p.damping)
    if not converged:  # explain it: count the components that can oscillate
        info = _solvers.structure(adjacency, counts, w, bipartite=True)[1]
    seconds = time.perf_counter() - start
    result = RankResult(
        node_scores=scores, method=name, iterations=iterations,
        converged=converged, residual=residual,
        info={"solver": p.solver, "damping": p.damping, "eps": p.eps, "max_iter": p.max_iter,
              "nodes": int(adjacency.shape[0]), "edges": int(adjacency.nnz // 2),
              "images": int(np.sum(counts)), "seconds": round(seconds, 6), **info})
    progress.log(f"{name}: {p.solver} solver, {iterations} iterations, "
                 f"converged={converged}, {seconds:.3g} s")
    if not converged:
        warnings.warn(
            f"{name}: power iteration did not converge in {iterations} iterations "
            f"(max |R^(k+1) - R^k| = {residual:.3g} > eps = {p.eps}); "
            f"{info.get('bipartite_components')} bipartite component(s) can oscillate; "
            "use the default -p solver=closed or -p damping=0.85", ConvergenceWarning, stacklevel=3)
    return result
