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
