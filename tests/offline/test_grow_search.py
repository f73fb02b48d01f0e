"""The growth search and the merged importance list against naive references."""

from __future__ import annotations

import numpy as np
import pytest

from dhr_sdk.codes.packing import hamming_matrix
from dhr_sdk.offline.grow_graph import near_pairs
from dhr_sdk.offline.grow_importance import sorted_nodes
from dhr_sdk.offline.importance import _byte_keys
from dhr_sdk.testing import clustered_codes


@pytest.mark.parametrize(("n_bits", "radius"), [(8, 0), (8, 3), (8, 9), (32, 0), (32, 2),
                                                (64, 2), (64, 4), (128, 3)])
def test_near_pairs_finds_exactly_the_pairs_within_the_radius(n_bits: int,
                                                              radius: int) -> None:
    codes = clustered_codes(400, n_bits, 6, 0.04, seed=n_bits + radius)
    queries = np.concatenate([codes[:30], clustered_codes(50, n_bits, 6, 0.04, seed=3)])
    rows, qrows, dists = near_pairs(codes, queries, n_bits, radius)
    d = hamming_matrix(codes, queries)
    want = {(int(i), int(j), int(d[i, j])) for i, j in zip(*np.nonzero(d <= radius),
                                                           strict=True)}
    got = list(zip(rows.tolist(), qrows.tolist(), dists.tolist(), strict=True))
    assert len(got) == len(set(got)) and set(got) == want


def test_sorted_nodes_follows_the_tie_rule() -> None:
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, 256, size=(3000, 16), dtype=np.uint8), axis=0)
    codes = codes[rng.permutation(codes.shape[0])]
    scores = rng.integers(0, 40, size=codes.shape[0]) / 7.0  # many exact ties
    scores[::5] = 0.0
    nodes = np.flatnonzero(rng.random(codes.shape[0]) < 0.7)
    want = nodes[np.lexsort((*_byte_keys(codes[nodes]), -scores[nodes]))]
    np.testing.assert_array_equal(sorted_nodes(_byte_keys(codes), scores, nodes), want)
    distinct = np.linspace(1.0, 2.0, nodes.size)[rng.permutation(nodes.size)]
    scores[nodes] = distinct
    want = nodes[np.argsort(-scores[nodes])]
    np.testing.assert_array_equal(sorted_nodes(_byte_keys(codes), scores, nodes), want)


@pytest.mark.parametrize("fraction", [0.1, 0.45, 0.55, 0.9])
def test_row_order_merged_or_sorted_equals_a_full_sort(fraction: float) -> None:
    from dhr_sdk.offline.grow_importance import _row_nodes

    rng = np.random.default_rng(int(fraction * 100))
    codes = np.unique(rng.integers(0, 256, size=(4000, 8), dtype=np.uint8), axis=0)
    codes = codes[rng.permutation(codes.shape[0])]
    m = codes.shape[0]
    m0 = m - 300  # the last 300 nodes are new (always touched)
    keys = _byte_keys(codes)
    old_scores = rng.integers(0, 30, size=m0) / 3.0
    node_of_row = np.lexsort((*_byte_keys(codes[:m0]), -old_scores))
    touched = np.concatenate([rng.random(m0) < fraction, np.ones(m - m0, bool)])
    scores = np.concatenate([old_scores, np.zeros(m - m0)])
    scores[touched] = rng.integers(0, 30, size=int(touched.sum())) / 3.0
    want = np.lexsort((*keys, -scores))
    np.testing.assert_array_equal(_row_nodes(node_of_row, keys, scores, touched), want)
