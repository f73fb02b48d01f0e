"""The importance list of section 3.4 (Fig. 4b): distinct codes sorted by importance score.

Columns: H (code), S (score of each image carrying the code), O (1-based order), N (number
of images with the code) and D (their image indices). Works for merged graphs (one row per
node) and per-image graphs (images grouped by identical code, S = the mean of their scores,
which are equal in exact arithmetic).
"""

from __future__ import annotations

import numpy as np

from dhr_sdk.codes.hamming_index import group_identical
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.types import HashGraph, ImportanceList, RankResult

TIE_RULE = ("rows sorted by S descending; rows with exactly equal S are ordered by code bytes "
            "ascending (H as unsigned big-endian bits); O is the 1-based row position, so tied "
            "rows get consecutive orders; D lists image indices ascending")


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
    byte_rank = group_identical(codes)[1]  # position of each code in byte order
    order = np.lexsort((byte_rank, -scores))
    new_row = np.empty_like(order)
    new_row[order] = np.arange(order.size)
    image_rows = new_row[row_of_image]
    members = np.argsort(image_rows, kind="stable").astype(np.int64)
    counts = counts[order]
    indptr = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return ImportanceList(n_bits=graph.n_bits, codes=codes[order], scores=scores[order],
                          order=np.arange(1, order.size + 1, dtype=np.int64), counts=counts,
                          members_indptr=indptr, members=members)
