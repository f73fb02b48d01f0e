"""The importance list after a growth, merged instead of rebuilt.

Equal to :func:`dhr_sdk.offline.importance.build_importance_list` of the grown graph (rows
by score descending, equal scores by code bytes ascending, images ascending in a row), but
the rows of untouched nodes keep their stored order: only the touched rows are sorted (by
score alone, then by code within runs of equal scores) and merged in by binary search
(or, when most nodes are touched, all rows are sorted that way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dhr_sdk.core.types import ImportanceList
from dhr_sdk.offline.importance import _byte_keys


@dataclass
class StoredRows:
    """What growth needs of a stored importance list: the node of each row, and each row's
    images (``members`` grouped by row through ``members_indptr``)."""

    node_of_row: np.ndarray
    members_indptr: np.ndarray
    members: np.ndarray


def _code_ranks(keys: list[np.ndarray]) -> np.ndarray:
    """The rank of each of some distinct codes in byte order (``keys``: their
    :func:`~dhr_sdk.offline.importance._byte_keys`). A stable sort: node codes are a few
    ascending runs (the stored nodes, then each growth's new nodes), which it merges in
    little more than one pass."""
    order = np.argsort(keys[0], kind="stable") if len(keys) == 1 else np.lexsort(keys)
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks


def sorted_nodes(keys: list[np.ndarray], scores: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """``nodes`` by score descending, equal scores by code bytes ascending (the tie rule);
    ``keys`` are the byte keys of every node's (distinct) code.

    One unstable sort on the scores; inside runs of equal scores, one sort on a single
    integer key (run, rank of the code among all nodes), instead of a two-key lexsort of
    every row."""
    order = nodes[np.argsort(-scores[nodes])]
    s = scores[order]
    eq = s[1:] == s[:-1]
    if not eq.any():
        return order
    tied = np.flatnonzero(np.concatenate([eq, [False]]) | np.concatenate([[False], eq]))
    run = np.cumsum(np.concatenate([[True], ~eq]))[tied]
    run -= run[0]
    sub = order[tied]
    order[tied] = sub[np.argsort(run * scores.size + _code_ranks(keys)[sub])]
    return order


def _less(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Row-wise ``a < b`` of codes given as big-endian words, most significant first."""
    out = np.zeros(a[0].shape[0], dtype=bool)
    for x, y in zip(reversed(a), reversed(b), strict=True):
        out = (x < y) | ((x == y) & out)
    return out


def _before(u_scores: np.ndarray, u_words: list[np.ndarray], t_scores: np.ndarray,
            t_words: list[np.ndarray]) -> np.ndarray:
    """For each of the sorted rows ``t``, how many sorted rows ``u`` come before it."""
    lo = np.searchsorted(-u_scores, -t_scores, side="left")
    hi = np.searchsorted(-u_scores, -t_scores, side="right")
    tie = np.flatnonzero(lo < hi)  # equal scores: binary search on the code bytes
    a, b = lo[tie], hi[tie]
    while np.any(a < b):
        mid = (a + b) // 2
        live = a < b
        at = np.where(live, mid, 0)
        less = live & _less([w[at] for w in u_words], [w[tie] for w in t_words])
        a = np.where(less, mid + 1, a)
        b = np.where(live & ~less, mid, b)
    lo[tie] = a
    return lo


def _row_nodes(node_of_row: np.ndarray, keys: list[np.ndarray], scores: np.ndarray,
               touched: np.ndarray) -> np.ndarray:
    """The node of each row of the grown list. When at least half the nodes are touched,
    sorting them all costs less than sorting the touched ones and merging (same order:
    the tie rule is a total order on distinct codes)."""
    m = touched.size
    if 2 * int(np.count_nonzero(touched)) >= m:
        return sorted_nodes(keys, scores, np.arange(m))
    u_nodes = node_of_row[~touched[node_of_row]]
    t_nodes = sorted_nodes(keys, scores, np.flatnonzero(touched))
    u_keys, t_keys = [k[u_nodes] for k in keys[::-1]], [k[t_nodes] for k in keys[::-1]]
    t_pos = np.arange(t_nodes.size) + _before(scores[u_nodes], u_keys, scores[t_nodes], t_keys)
    is_t = np.zeros(m, dtype=bool)
    is_t[t_pos] = True
    final = np.empty(m, dtype=np.int64)
    final[t_pos] = t_nodes
    final[~is_t] = u_nodes
    return final


def grown_importance(n_bits: int, old: StoredRows, codes: np.ndarray, scores: np.ndarray,
                     counts: np.ndarray, touched: np.ndarray, new_image_nodes: np.ndarray
                     ) -> ImportanceList:
    """The importance list of the grown graph (nodes' ``codes``, ``scores``, image
    ``counts``; ``touched`` marks nodes whose score or row changed, which must include
    every new node). ``new_image_nodes`` is the node of each new image: image indices
    follow the old ones, so the new images extend their rows in ascending order."""
    m0, m = old.node_of_row.size, codes.shape[0]
    final = _row_nodes(old.node_of_row, _byte_keys(codes), scores, touched)
    n_counts = counts[final].astype(np.int64)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(n_counts, out=indptr[1:])
    row_of_node = np.empty(m, dtype=np.int64)
    row_of_node[final] = np.arange(m)
    # old images move with their row, keeping their offset in it
    old_len = np.diff(old.members_indptr)
    n_old = old.members.size
    r_old = np.repeat(np.arange(m0), old_len)
    members = np.empty(int(indptr[-1]), dtype=np.int64)
    members[indptr[row_of_node[old.node_of_row]][r_old] + np.arange(n_old)
            - old.members_indptr[r_old]] = old.members
    # new images after them, ascending
    len_of_node = np.zeros(m, dtype=np.int64)
    len_of_node[old.node_of_row] = old_len
    new_rows = row_of_node[new_image_nodes]
    order = np.argsort(new_rows, kind="stable")
    r = new_rows[order]
    first = np.searchsorted(r, r, side="left")
    members[indptr[r] + len_of_node[final[r]] + np.arange(r.size) - first] = n_old + order
    return ImportanceList(n_bits=n_bits, codes=np.take(codes, final, axis=0), scores=scores[final],
                          order=np.arange(1, m + 1, dtype=np.int64), counts=n_counts,
                          members_indptr=indptr, members=members)
