"""Connected components of an undirected sparse graph without a slow import on small graphs.

``scipy.sparse.csgraph`` imports ``scipy.sparse.linalg`` and ``scipy.linalg``, about a
quarter of a second of start-up for ``dhr graph``, ``dhr rank`` and ``dhr info``. Small
graphs are labelled in NumPy; from :data:`CSGRAPH_FROM` nodes plus edges on, csgraph's C
traversal (2-3x faster there) pays its import back. Both give the same labels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Nodes + stored entries from which csgraph is used (its import costs less than NumPy's
#: slower labelling from here on; docs/benchmarks.md, "Start-up").
CSGRAPH_FROM = 200_000


def graph_structure(adjacency: sp.csr_matrix) -> dict[str, int]:
    """Undirected ``edges``, connected ``components`` and ``isolated_nodes`` of a symmetric
    CSR adjacency: the structure ``dhr graph`` and ``dhr info`` report."""
    degree = np.diff(adjacency.indptr)
    return {"edges": int(adjacency.nnz // 2),
            "components": connected_components(adjacency)[0],
            "isolated_nodes": int((degree == 0).sum())}


def connected_components(adjacency: sp.spmatrix | sp.sparray) -> tuple[int, np.ndarray]:
    """``(n_components, labels)`` of the undirected graph of ``adjacency``'s nonzero pattern,
    labelled ``0 .. n_components - 1`` in order of each component's smallest node, exactly as
    ``scipy.sparse.csgraph.connected_components(adjacency, directed=False)``."""
    if adjacency.shape[0] + adjacency.nnz >= CSGRAPH_FROM:
        from scipy.sparse import csgraph

        n_comp, labels = csgraph.connected_components(adjacency, directed=False)
        return int(n_comp), labels
    return numpy_components(adjacency)


def numpy_components(adjacency: sp.spmatrix | sp.sparray) -> tuple[int, np.ndarray]:
    """:func:`connected_components` in NumPy: hooking and pointer jumping. Every round each
    tree root with an edge to another tree hooks onto the smallest root it touches, so the
    number of trees at least halves: O(log n) rounds of O(E) work."""
    coo = sp.coo_matrix(adjacency)
    n = int(coo.shape[0])
    u = coo.row.astype(np.int64)
    v = coo.col.astype(np.int64)
    keep = u != v
    u, v = u[keep], v[keep]
    parent = np.arange(n, dtype=np.int64)
    while u.size:
        ru, rv = parent[u], parent[v]
        lo, hi = np.minimum(ru, rv), np.maximum(ru, rv)
        cross = lo != hi
        if not cross.any():
            break
        u, v = u[cross], v[cross]
        np.minimum.at(parent, hi[cross], lo[cross])
        while True:  # point every node at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    roots, labels = np.unique(parent, return_inverse=True)
    return int(roots.size), labels.astype(np.int32).reshape(n)
