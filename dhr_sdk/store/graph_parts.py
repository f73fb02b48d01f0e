"""The parts of a merged graph that let it grow in place (format 2.0).

* ``node_components``: a component label per node (equal labels, same component; labels
  need not be contiguous after growth) and the attribute ``components`` (their number);
* ``node_degree``: CPR's per-image weighted degree ``w_t = sum_s A_ts c_s + (c_t - 1) l``;
* ``added_edges/{i, j, weight}``: edges appended by growth, each with an endpoint at or
  after the base adjacency's size; readers insert them into the base CSR.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dhr_sdk.core.components import connected_components


def degree(adjacency: sp.csr_matrix, counts: np.ndarray, n_bits: int) -> np.ndarray:
    """``w_t`` as the CPR/SHR solvers compute it (the same float operations)."""
    c = counts.astype(np.float64)
    return np.asarray(adjacency @ c).ravel() + (c - 1.0) * n_bits


def components(adjacency: sp.csr_matrix) -> tuple[int, np.ndarray]:
    n, labels = connected_components(adjacency)
    return n, labels.astype(np.int64)


def insert_edges(old: sp.csr_matrix, m2: int, i: np.ndarray, j: np.ndarray,
                 weight: np.ndarray) -> sp.csr_matrix:
    """``old`` grown to ``m2`` nodes with the undirected edges ``(i, j)``, each of which has
    an endpoint ``>= old.shape[0]``: in every row the new columns sort after the old ones,
    so they are inserted at the row ends in one pass (indices stay sorted)."""
    rows, cols = np.concatenate([i, j]), np.concatenate([j, i])
    order = np.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], np.concatenate([weight, weight])[order]
    m = old.shape[0]
    padded = np.concatenate([old.indptr, np.full(m2 - m, old.indptr[-1])])
    added = np.zeros(m2 + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m2), out=added[1:])
    slots = padded[rows + 1] + np.arange(rows.size)  # final positions of the new entries
    old_slot = np.ones(old.nnz + rows.size, dtype=bool)
    old_slot[slots] = False
    indices = np.empty(old_slot.size, dtype=np.int64 if m2 > 2**31 - 1 else np.int32)
    values = np.empty(old_slot.size, dtype=np.float64)
    indices[slots], values[slots] = cols, data
    indices[old_slot], values[old_slot] = old.indices, old.data
    return sp.csr_matrix((values, indices, padded + added), shape=(m2, m2))
