"""In-memory incremental growth of a merged Hamming graph and of its closed-form rank.

Adding codes to a merged graph (one node per distinct code, edges ``n_bits - d`` for
``0 < d <= radius``) only creates edges at the new distinct codes, so only their
neighbourhoods are searched (:func:`near_pairs`: multi-index hashing over the new codes,
probed by every old node code, so the candidates are pairs that share a block, not whole
clusters of old codes). New distinct codes are appended as
nodes after the old ones (in byte order among themselves); codes equal to an old node only
add images to it.

The undamped closed form (``R_t = |C| w_t / sum_C c w`` per connected component ``C``) is
an integer-exact expression, so re-ranking only the components that gained nodes, edges or
images gives scores bit-identical to ranking the whole grown graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csgraph

from dhr_sdk.codes.hamming_index import HammingIndex, block_masks, group_identical
from dhr_sdk.codes.packing import to_words
from dhr_sdk.core.types import HashGraph
from dhr_sdk.store.graph_parts import insert_edges

_BUCKET_BITS = 22
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class GraphGrowth:
    """The grown graph and what changed: nodes ``>= old_nodes`` are new; ``seeds`` are the
    nodes that gained images or edges (new nodes and old nodes with new images)."""

    graph: HashGraph
    old_nodes: int
    new_edges: int
    seeds: np.ndarray


def _buckets(words: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A ``_BUCKET_BITS``-bit hash of each code's block ``mask`` (equal blocks, equal bucket)."""
    key = np.zeros(words.shape[0], dtype=np.uint64)
    for w in range(words.shape[1]):
        if mask[w]:
            key ^= (words[:, w] & mask[w]) * (_GOLDEN + np.uint64(2 * w))
            key = (key << np.uint64(13)) | (key >> np.uint64(51))
    return (key * _GOLDEN) >> np.uint64(64 - _BUCKET_BITS)


def near_pairs(codes: np.ndarray, queries: np.ndarray, n_bits: int, radius: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``(row of codes, row of queries, distance)`` within ``radius``.

    Multi-index hashing over the queries, probed by every code: two codes within
    ``radius`` agree on one of ``radius + 1`` blocks (pigeonhole). Per block, a bitmap of
    the queries' block hashes keeps the codes that may agree; those are joined with the
    queries of the same hash (sorted), and a pair is kept in the first block it agrees on
    exactly and when its distance is at most ``radius``. The cost is a pass over ``codes``
    per block plus the candidate pairs, not one query per code."""
    a, q = to_words(codes), to_words(queries)
    a_cols = [np.ascontiguousarray(a[:, w]) for w in range(a.shape[1])]
    q_cols = [np.ascontiguousarray(q[:, w]) for w in range(q.shape[1])]
    masks = block_masks(n_bits, radius + 1)
    rows, qrows, dists = [], [], []
    for b, mask in enumerate(masks):
        kq = _buckets(q, mask)
        order = np.argsort(kq)
        sorted_q = kq[order]
        bitmap = np.zeros(1 << _BUCKET_BITS, dtype=bool)
        bitmap[kq] = True
        ka = _buckets(a, mask)
        hit = np.flatnonzero(bitmap[ka])
        lo = np.searchsorted(sorted_q, ka[hit], side="left")
        n = np.searchsorted(sorted_q, ka[hit], side="right") - lo
        ai = np.repeat(hit, n)
        qi = order[np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))]
        x = [a_cols[w][ai] ^ q_cols[w][qi] for w in range(len(a_cols))]
        dist = sum(np.bitwise_count(xw).astype(np.int64) for xw in x)
        keep = np.asarray(dist <= radius)
        for e in range(b + 1):  # agrees on block b (hashes can collide), on no earlier one
            agree = np.ones(ai.size, dtype=bool)
            for w, xw in enumerate(x):
                if masks[e][w]:
                    agree &= (xw & masks[e][w]) == 0
            keep &= agree if e == b else ~agree
        rows.append(ai[keep])
        qrows.append(qi[keep])
        dists.append(dist[keep])
    return np.concatenate(rows), np.concatenate(qrows), np.concatenate(dists)


@dataclass
class Search:
    """Where new codes land: ``node_of`` per distinct new code (old node or ``m + k``),
    ``fresh`` (distinct codes that are new nodes), and the new edges ``(i, j, weight)``."""

    distinct: np.ndarray
    inverse: np.ndarray
    counts: np.ndarray
    node_of: np.ndarray
    fresh: np.ndarray
    i: np.ndarray
    j: np.ndarray
    weight: np.ndarray


def search_growth(node_codes: np.ndarray, n_bits: int, radius: int,
                  codes: np.ndarray) -> Search:
    """The nodes and edges that packed ``codes`` add to a merged graph of ``node_codes``."""
    m = node_codes.shape[0]
    distinct, inverse, counts = group_identical(codes)
    node_of = np.full(distinct.shape[0], -1, dtype=np.int64)
    old_id, new_id, _ = near_pairs(node_codes, distinct, n_bits, 0)  # identical codes first
    node_of[new_id] = old_id
    fresh = np.flatnonzero(node_of < 0)
    node_of[fresh] = m + np.arange(fresh.size)
    # edges: new codes to old nodes, and new codes among themselves
    new_codes = np.take(distinct, fresh, axis=0)
    old_id, new_id, dists = near_pairs(node_codes, new_codes, n_bits, radius)
    to_old = n_bits - dists > 0
    old_id, new_id, dists = old_id[to_old], fresh[new_id[to_old]], dists[to_old]
    pi, pj, pd = (x.astype(np.int64) for x in
                  HammingIndex(new_codes, n_bits).self_pairs(radius))
    keep = n_bits - pd > 0
    i = np.concatenate([node_of[new_id], m + pi[keep]])
    j = np.concatenate([old_id, m + pj[keep]])
    weight = (n_bits - np.concatenate([dists, pd[keep]])).astype(np.float64)
    return Search(distinct, inverse, counts, node_of, fresh, i, j, weight)


def grow_graph(graph: HashGraph, codes: np.ndarray) -> GraphGrowth:
    """``graph`` (merged) with the images of packed ``codes`` appended (image ids
    ``graph.n_images ...``); equal, as a set of weighted edges over code bytes, to the
    graph built from all codes."""
    m = graph.n_nodes
    s = search_growth(graph.node_codes, graph.n_bits, graph.radius, codes)
    adjacency = insert_edges(graph.adjacency, m + s.fresh.size, s.i, s.j, s.weight)
    node_counts = np.concatenate([graph.node_counts, np.zeros(s.fresh.size, np.int64)])
    np.add.at(node_counts, s.node_of, s.counts)
    seeds = np.unique(np.concatenate([s.node_of, s.i, s.j]))
    new_graph = HashGraph(
        n_bits=graph.n_bits, radius=graph.radius,
        node_codes=np.concatenate([graph.node_codes, s.distinct[s.fresh]]),
        node_counts=node_counts,
        image_nodes=np.concatenate([graph.image_nodes, s.node_of[s.inverse]]),
        adjacency=adjacency, merged=True)
    return GraphGrowth(new_graph, m, int(s.i.size), seeds)


@dataclass
class Rerank:
    """Closed-form scores of the grown graph and the counts the rank element records."""

    scores: np.ndarray
    touched_components: int
    components: int
    isolated_nodes: int


def rerank_closed(growth: GraphGrowth, old_scores: np.ndarray) -> Rerank:
    """Undamped closed form on the components the growth touched; every other score is the
    old one (unchanged: its component, degrees and counts are the same).

    The components come from one pass over the grown graph (strongly connected components
    of the symmetric adjacency: the same components, found without a transpose)."""
    g = growth.graph
    n_comp, labels = csgraph.connected_components(g.adjacency, directed=True,
                                                  connection="strong")
    hit = np.zeros(n_comp, dtype=bool)
    hit[labels[growth.seeds]] = True
    touched = np.flatnonzero(hit[labels])
    c = g.node_counts[touched].astype(np.float64)
    w = np.asarray(g.adjacency @ g.node_counts.astype(np.float64)).ravel()[touched] \
        + (c - 1.0) * g.n_bits
    lab = labels[touched]
    size = np.bincount(lab, weights=c, minlength=n_comp)
    mass = np.bincount(lab, weights=c * w, minlength=n_comp)
    scale = np.zeros_like(mass)
    np.divide(size, mass, out=scale, where=mass > 0)
    scores = np.concatenate([old_scores, np.zeros(g.n_nodes - growth.old_nodes)])
    scores[touched] = scale[lab] * w
    return Rerank(scores=scores, touched_components=int(hit.sum()), components=int(n_comp),
                  isolated_nodes=int(np.sum(np.diff(g.adjacency.indptr) == 0)))
