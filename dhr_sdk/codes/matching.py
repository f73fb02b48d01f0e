"""Requirement codes against an importance list: the pairs within a Hamming radius.

Both built-in assessors (and ``dhr select``) start from the same question — which rows of a
collection's importance list lie within τ of which requirement image — and then count the
images behind those rows once each. This module answers it with the exact multi-index
:class:`~dhr_sdk.codes.hamming_index.HammingIndex`, never a scan.
"""

from __future__ import annotations

import numpy as np

from dhr_sdk.codes.hamming_index import HammingIndex
from dhr_sdk.core.types import MatchPairs


def match_pairs(index: HammingIndex, codes: np.ndarray, radius: int,
                queries: np.ndarray | None = None) -> MatchPairs:
    """Pairs (requirement image, row, distance) with distance ``<= radius`` (inclusive).

    ``queries`` are the requirement indices of ``codes``' rows (default ``0..n-1``), so a
    caller can search a subset (e.g. widening the radius for unmatched images only).
    """
    lims, ids, dists = index.radius_search(codes, radius)
    sizes = np.diff(np.asarray(lims, dtype=np.int64)).astype(np.int64)
    owner = np.repeat(np.arange(codes.shape[0]), sizes)
    q = owner if queries is None else np.asarray(queries, dtype=np.int64)[owner]
    return MatchPairs(q.astype(np.int64), np.asarray(ids, dtype=np.int64),
                      np.asarray(dists, dtype=np.int64))


def concat_pairs(parts: list[MatchPairs]) -> MatchPairs:
    """One :class:`MatchPairs` from several searches, sorted by (query, row)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return MatchPairs.empty()
    q = np.concatenate([p.query for p in parts])
    r = np.concatenate([p.row for p in parts])
    d = np.concatenate([p.distance for p in parts])
    order = np.lexsort((r, q))
    return MatchPairs(q[order], r[order], d[order])


def distinct_images(pairs: MatchPairs, counts: np.ndarray) -> int:
    """Images behind the distinct matched rows (each image once)."""
    return int(counts[np.unique(pairs.row)].sum()) if len(pairs) else 0


def row_values(pairs: MatchPairs, values: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray, np.ndarray]:
    """Per distinct matched row: the largest and second-largest ``values[query]`` over the
    requirement images matching it, and which requirement image gave the largest.

    Returns ``(rows, best, second, best_query)``; ``second`` is 0 where one image matches.
    """
    if not len(pairs):
        z = np.zeros(0, dtype=np.int64)
        return z, np.zeros(0), np.zeros(0), z
    v = np.asarray(values, dtype=np.float64)[pairs.query]
    order = np.lexsort((pairs.query, -v, pairs.row))
    rows = pairs.row[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    starts = np.flatnonzero(first)
    best = v[order][starts]
    best_q = pairs.query[order][starts]
    has_second = np.append(starts[1:], rows.size) - starts > 1
    second = np.zeros(starts.size)
    second[has_second] = v[order][starts[has_second] + 1]
    return rows[starts], best, second, best_q
