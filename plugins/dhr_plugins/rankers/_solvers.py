"""The linear algebra behind SHR and CPR (framework paper sections 5.2-5.3; docs/ranking.md).

One formulation serves both rankers. A graph has ``m`` nodes with image counts ``c``
(all 1 for SHR's per-image graph), a symmetric adjacency ``A`` of weights ``l - d``
between distinct nodes, and implicit edges of weight ``l`` between the ``c_t`` identical
images of node ``t``. Every image of node ``t`` has the weighted degree (Eq. 11's
denominator, identical-code neighbours included)::

    w_t = sum_s A_ts c_s + (c_t - 1) l

SHR iterates ``R <- D R`` with ``D = W diag(1/w)`` on the per-image graph (Eq. 12-14).
CPR iterates the cluster mass ``X_t = c_t R_t`` with Eq. (16)'s matrix
``D^ = diag(c) A diag(1/w) + diag((c - 1) l / w)``, i.e. ``f_ts = (l - d_ts) / w_s`` and
``f_tt = l / w_t``, and reads ``R_t = X_t / c_t``. Starting from ``X^0_t = c_t`` (every
image at ``R^0 = 1``), every iterate equals SHR's per image, on any graph. The paper's
Eq. (17) instead starts from ``X^0 = 1`` per cluster and rescales by ``n / m``: the random
walk conserves mass per connected component, so that rescaling is exact only when the graph
is connected (one component holding all ``n`` images); we use ``X^0 = c`` and no rescaling.

A node with ``w = 0`` (an image with no neighbour) has a zero column: its score drops to 0
after one step. The undamped limit is closed-form (:func:`closed_form`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dhr_sdk import connected_components


def weighted_degree(adjacency: sp.csr_matrix, counts: np.ndarray, n_bits: int) -> np.ndarray:
    """Per-image weighted degree ``w_t`` including identical-code neighbours (weight l)."""
    c = counts.astype(np.float64)
    return np.asarray(adjacency @ c).ravel() + (c - 1.0) * n_bits


def _inverse(w: np.ndarray) -> np.ndarray:
    inv = np.zeros_like(w)
    np.divide(1.0, w, out=inv, where=w > 0)
    return inv


def mass_matrix(adjacency: sp.csr_matrix, counts: np.ndarray, n_bits: int,
                w: np.ndarray) -> sp.csr_matrix:
    """Eq. (16)/(18): ``D^`` acting on cluster masses ``X``; ``D`` itself when all c = 1."""
    c = counts.astype(np.float64)
    inv = _inverse(w)
    matrix = sp.csr_matrix(adjacency, dtype=np.float64, copy=True)
    matrix.data *= inv[matrix.indices]  # columns / w_s
    matrix.data *= np.repeat(c, np.diff(matrix.indptr))  # rows * num_t
    if np.any(c > 1):
        matrix = sp.csr_matrix(matrix + sp.diags((c - 1.0) * n_bits * inv))
    return matrix


def power_iteration(matrix: sp.csr_matrix, counts: np.ndarray, w: np.ndarray, eps: float,
                    max_iter: int, damping: float = 1.0) -> tuple[np.ndarray, int, bool, float]:
    """Iterate ``X <- D^ X`` from ``X^0 = c`` (``R^0 = 1``) until ``max |R^{k+1} - R^k| <= eps``.

    The termination test is the paper's ``R^{k+1} - R^k <= ε`` taken in absolute value on
    every image score, independent of the graph size. ``damping < 1`` is the standard
    PageRank variant (networkx semantics, scaled to mean score 1):
    ``R <- α (D R + s / n) + (1 - α)`` with ``s`` the score mass on nodes without
    neighbours (dangling), spread evenly as networkx does. Returns
    ``(R, iterations, converged, residual)``.
    """
    c = counts.astype(np.float64)
    n_images = float(c.sum())
    dangling = np.flatnonzero(w == 0)
    x = c.copy()
    r = np.ones_like(c)
    residual = float("inf")
    for k in range(1, max_iter + 1):
        x_new = matrix @ x
        if damping < 1.0:  # α (D^ X + c s / n) + (1 - α) c
            s = float(x[dangling].sum())
            x_new *= damping
            x_new += (damping * s / n_images + 1.0 - damping) * c
        r_new = x_new / c
        residual = float(np.max(np.abs(r_new - r))) if r.size else 0.0
        x, r = x_new, r_new
        if residual <= eps:
            return r, k, True, residual
    return r, max_iter, False, residual


def closed_form(adjacency: sp.csr_matrix, counts: np.ndarray, w: np.ndarray,
                labels: np.ndarray) -> np.ndarray:
    """Undamped limit: ``R_t = |C| w_t / sum_{j in C} w_j`` per image in component ``C``.

    ``|C|`` and the sum run over the images of the component (``c``-weighted), so the
    result equals the per-image graph's. Components whose images have no edges (``w = 0``,
    a lone image) score 0. O(E) via connected components; on a bipartite component this
    is the average of the two values the undamped iteration oscillates between.
    """
    c = counts.astype(np.float64)
    size = np.bincount(labels, weights=c)
    mass = np.bincount(labels, weights=c * w)
    scale = np.zeros_like(mass)
    np.divide(size, mass, out=scale, where=mass > 0)
    return scale[labels] * w


def damped_closed_form(matrix: sp.csr_matrix, counts: np.ndarray, w: np.ndarray,
                       damping: float) -> np.ndarray:
    """Fixed point of the damped iteration by one sparse solve.

    With ``M = diag(1/c) D^ diag(c)`` (SHR's ``D`` per image), ``y = (I - α M)^{-1} 1`` and
    ``R = k y`` where ``k = (1 - α) / (1 - α (d . y) / n)``, ``d_t = c_t [w_t = 0]``.
    """
    c = counts.astype(np.float64)
    m = c.shape[0]
    per_image = sp.diags(1.0 / c) @ matrix @ sp.diags(c)
    system = (sp.identity(m, format="csc") - damping * per_image).tocsc()
    from scipy.sparse.linalg import spsolve  # scipy.linalg: imported only to solve

    y = np.atleast_1d(spsolve(system, np.ones(m)))
    dangling_mass = float((c * (w == 0)) @ y)
    k = (1.0 - damping) / (1.0 - damping * dangling_mass / float(c.sum()))
    return k * y


def structure(adjacency: sp.csr_matrix, counts: np.ndarray, w: np.ndarray,
              bipartite: bool = True) -> tuple[np.ndarray, dict[str, int]]:
    """Component labels and counts: components, isolated nodes, bipartite components.

    The bipartite count (a second connected-components pass, on the double cover) is only
    computed when ``bipartite`` is true: it explains non-convergence of the power iteration,
    so the rankers compute it only when the iteration did not converge.

    A component (of two or more nodes) is bipartite, so the undamped iteration may
    oscillate, iff its bipartite double cover splits in two; a merged node with
    ``c_t >= 2`` has an implicit self-loop (identical images) and breaks bipartiteness.
    """
    m = adjacency.shape[0]
    n_comp, labels = connected_components(adjacency)
    info = {"components": int(n_comp),
            "isolated_nodes": int(np.sum(np.diff(adjacency.indptr) == 0))}
    if not bipartite:
        return labels, info
    # double cover: node t on side 0 joins the side-1 copies of its neighbours (rows >= m
    # stay empty; connected_components treats the graph as undirected)
    indptr = np.concatenate([adjacency.indptr, np.full(m, adjacency.indptr[-1])])
    cover = sp.csr_matrix((np.ones(adjacency.nnz, np.float32), adjacency.indices + m, indptr),
                          shape=(2 * m, 2 * m))
    loops = np.flatnonzero(counts >= 2)
    if loops.size:
        cover = cover + sp.csr_matrix((np.ones(loops.size, np.float32), (loops, loops + m)),
                                      shape=(2 * m, 2 * m))
    n_cover = connected_components(cover)[0]
    lone = int(np.sum(w == 0))  # single images without neighbours: trivially "bipartite"
    info["bipartite_components"] = int(n_cover - n_comp - lone)
    return labels, info
