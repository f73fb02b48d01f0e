"""The importance list of section 3.4 (Fig. 4b): distinct codes sorted by importance score.

Columns: H (code), S (score of each image carrying the code), O (1-based order), N (number
of images with the code) and D (their image indices). Works for merged graphs (one row per
node) and per-image graphs (images grouped by identical code, S = the mean of their scores,
which are equal in exact arithmetic).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dhr_sdk.codes.hamming_index import group_identical
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.types import HashGraph, ImportanceList, RankResult

TIE_RULE = ("rows sorted by S descending; rows with exactly equal S are ordered by code bytes "
            "ascending (H as unsigned big-endian bits); O is the 1-based row position, so tied "
            "rows get consecutive orders; D lists image indices ascending")


def _byte_keys(codes: np.ndarray) -> list[np.ndarray]:
    """Sort keys (least significant first, for ``np.lexsort``) ordering codes by bytes."""
    n, n_bytes = codes.shape
    pad = (-n_bytes) % 8
    padded = np.concatenate([codes, np.zeros((n, pad), np.uint8)], axis=1) if pad else codes
    words = np.ascontiguousarray(padded).view(">u8").astype(np.uint64)
    return [words[:, k] for k in range(words.shape[1] - 1, -1, -1)]


def _members(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Image indices grouped by row, ascending within a row (a counting sort)."""
    n = rows.shape[0]
    grouped = sp.csr_matrix((np.ones(n, np.int8), (rows, np.arange(n))), shape=(n_rows, n))
    return grouped.indices.astype(np.int64)


def build_importance_list(graph: HashGraph, result: RankResult) -> ImportanceList:
    """Importance list of ``graph`` ranked by ``result`` (see :data:`TIE_RULE`)."""
    if result.node_scores.shape != (graph.n_nodes,):
        raise DhrError(f"rank has {result.node_scores.shape[0]} scores but the graph has "
                       f"{graph.n_nodes} nodes; re-run 'dhr rank' after 'dhr graph'")
    if graph.merged:
        codes, row_of_image = graph.node_codes, graph.image_nodes.astype(np.int64)
        counts = np.bincount(row_of_image, minlength=codes.shape[0]).astype(np.int64)
        scores = np.asarray(result.node_scores, dtype=np.float64)
    else:
        image_scores = result.node_scores[graph.image_nodes]
        codes, row_of_image, counts = group_identical(graph.node_codes[graph.image_nodes])
        scores = np.bincount(row_of_image, weights=image_scores) / counts
    order = np.lexsort((*_byte_keys(codes), -scores))
    new_row = np.empty_like(order)
    new_row[order] = np.arange(order.size)
    members = _members(new_row[row_of_image], order.size)
    counts = counts[order]
    indptr = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return ImportanceList(n_bits=graph.n_bits, codes=codes[order], scores=scores[order],
                          order=np.arange(1, order.size + 1, dtype=np.int64), counts=counts,
                          members_indptr=indptr, members=members)


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


def grown_importance(old: ImportanceList, old_row_of_node: np.ndarray, codes: np.ndarray,
                     scores: np.ndarray, counts: np.ndarray, touched: np.ndarray,
                     new_image_nodes: np.ndarray) -> ImportanceList:
    """The importance list after a growth, equal to :func:`build_importance_list` of the
    grown graph: the rows of untouched nodes keep their order (their keys did not change),
    the touched nodes' rows are sorted and merged in. ``new_image_nodes`` is the node of
    each new image (image indices follow the old ones, so they extend rows ascending)."""
    m0, m = old_row_of_node.size, codes.shape[0]
    node_of_row = np.empty(m0, dtype=np.int64)
    node_of_row[old_row_of_node] = np.arange(m0)
    u_nodes = node_of_row[~touched[node_of_row]]
    t_nodes = np.flatnonzero(touched)
    t_nodes = t_nodes[np.lexsort((*_byte_keys(codes[t_nodes]), -scores[t_nodes]))]
    u_keys, t_keys = _byte_keys(codes[u_nodes])[::-1], _byte_keys(codes[t_nodes])[::-1]
    t_pos = np.arange(t_nodes.size) + _before(scores[u_nodes], u_keys, scores[t_nodes], t_keys)
    is_t = np.zeros(m, dtype=bool)
    is_t[t_pos] = True
    final = np.empty(m, dtype=np.int64)
    final[t_pos] = t_nodes
    final[~is_t] = u_nodes
    n_counts = counts[final].astype(np.int64)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(n_counts, out=indptr[1:])
    old_rows = np.where(final < m0, old_row_of_node[np.minimum(final, m0 - 1)], -1)
    old_len = np.where(old_rows >= 0, old.counts[np.maximum(old_rows, 0)], 0)
    members = np.empty(int(indptr[-1]), dtype=np.int64)
    rows = np.repeat(np.arange(m), old_len)  # old members, in place at each row's start
    within = np.arange(rows.size) - np.repeat(np.cumsum(old_len) - old_len, old_len)
    members[indptr[rows] + within] = old.members[old.members_indptr[old_rows[rows]] + within]
    row_of_node = np.empty(m, dtype=np.int64)
    row_of_node[final] = np.arange(m)
    new_rows = row_of_node[new_image_nodes]
    order = np.argsort(new_rows, kind="stable")  # images ascending within each row
    r = new_rows[order]
    first = np.searchsorted(r, r, side="left")
    members[indptr[r] + old_len[r] + np.arange(r.size) - first] = old.n_images + order
    return ImportanceList(n_bits=old.n_bits, codes=codes[final], scores=scores[final],
                          order=np.arange(1, m + 1, dtype=np.int64), counts=n_counts,
                          members_indptr=indptr, members=members)
