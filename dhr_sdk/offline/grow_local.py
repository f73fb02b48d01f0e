"""Growth without the adjacency: counts, degrees, components and closed-form scores.

A format 2.0 store keeps, per node, its component label and CPR's weighted degree
``w_t = sum_s A_ts c_s + (c_t - 1) l`` (:mod:`dhr_sdk.store.graph_parts`). Adding codes
changes them only at the new edges and at nodes that gain images, so they are updated
from the new edges and the stored rows of those nodes alone. Every quantity is an
integer held exactly in float64, so the degrees equal a rebuild's, and the closed form
``R_t = (|C| / sum_C c w) w_t`` on the touched components gives bit-identical scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dhr_sdk.core.components import connected_components
from dhr_sdk.offline.grow_graph import Search

RowsReader = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""Stored ``(row, column, weight)`` entries of the adjacency rows of some nodes."""


@dataclass
class LocalGrowth:
    counts: np.ndarray
    degree: np.ndarray
    labels: np.ndarray
    n_components: int
    touched: np.ndarray
    """Bool per node: in a component that gained nodes, edges or images."""
    touched_components: int
    scores: np.ndarray
    isolated_nodes: int


def _merge_labels(labels: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels after joining the components of every ``(i, j)``: each merged group takes
    its smallest label. Returns the labels and how many labels disappeared."""
    if i.size == 0:
        return labels, 0
    involved, idx = np.unique(np.concatenate([labels[i], labels[j]]), return_inverse=True)
    k = involved.size
    a, b = idx[:i.size], idx[i.size:]
    n_groups, group = connected_components(sp.csr_matrix(
        (np.ones(a.size), (a, b)), shape=(k, k)))
    smallest = np.full(n_groups, np.iinfo(np.int64).max)
    np.minimum.at(smallest, group, involved)
    remap = np.arange(int(labels.max()) + 1, dtype=np.int64)
    remap[involved] = smallest[group]
    return remap[labels], int(k - n_groups)


def grow_local(s: Search, counts: np.ndarray, degree: np.ndarray, labels: np.ndarray,
               n_components: int, scores: np.ndarray, n_bits: int,
               rows: RowsReader) -> LocalGrowth:
    """Counts, degrees, labels and closed-form scores after the growth ``s``."""
    m0, k = counts.shape[0], s.fresh.size
    new_counts = np.concatenate([counts, np.zeros(k, np.int64)])
    np.add.at(new_counts, s.node_of, s.counts)
    delta = new_counts - np.concatenate([counts, np.zeros(k, np.int64)])
    w = np.concatenate([degree, np.zeros(k)])
    changed = np.flatnonzero(delta[:m0] > 0)
    r, c, a = rows(changed)  # old edges at nodes that gained images: w_t += A_ts delta_s
    np.add.at(w, c, a * delta[r])
    np.add.at(w, s.i, s.weight * new_counts[s.j])
    np.add.at(w, s.j, s.weight * new_counts[s.i])
    w += delta * float(n_bits)
    w[m0:] -= float(n_bits)
    start = int(labels.max()) + 1 if labels.size else 0
    lab = np.concatenate([labels, start + np.arange(k, dtype=np.int64)])
    lab, gone = _merge_labels(lab, s.i, s.j)
    n_comp = n_components + k - gone
    seeds = np.concatenate([s.node_of, s.i, s.j])
    hit = np.zeros(int(lab.max()) + 1 if lab.size else 0, dtype=bool)
    hit[lab[seeds]] = True
    touched = hit[lab]
    t = np.flatnonzero(touched)
    cw = new_counts[t].astype(np.float64)
    size = np.bincount(lab[t], weights=cw, minlength=hit.size)
    mass = np.bincount(lab[t], weights=cw * w[t], minlength=hit.size)
    scale = np.zeros_like(mass)
    np.divide(size, mass, out=scale, where=mass > 0)
    out = np.concatenate([scores, np.zeros(k)])
    out[t] = scale[lab[t]] * w[t]
    isolated = int(np.sum(w == (new_counts - 1.0) * n_bits))
    return LocalGrowth(new_counts, w, lab, n_comp, touched, int(hit.sum()), out, isolated)
