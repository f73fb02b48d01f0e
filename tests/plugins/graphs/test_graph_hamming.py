"""Graph builder ``hamming`` against brute-force all-pairs Hamming graphs and FAISS."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from dhr_plugins.graphs.hamming import HammingGraphBuilder, symmetric_csr

from dhr_sdk.codes.packing import hamming_matrix, pack_bits
from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.core.types import HashGraph
from dhr_sdk.testing import brute_force_graph, clustered_codes


def _codes(n: int, n_bits: int, seed: int, kind: str) -> np.ndarray:
    if kind == "clustered":
        return clustered_codes(n, n_bits, 15, 0.03, seed=seed)
    rng = np.random.default_rng(seed)
    return pack_bits(rng.integers(0, 2, size=(n, n_bits)))


def _assert_same_graph(g: HashGraph, ref: HashGraph) -> None:
    assert g.merged == ref.merged and g.radius == ref.radius and g.n_bits == ref.n_bits
    np.testing.assert_array_equal(g.node_codes, ref.node_codes)
    np.testing.assert_array_equal(g.node_counts, ref.node_counts)
    np.testing.assert_array_equal(g.image_nodes, ref.image_nodes)
    assert g.adjacency.shape == ref.adjacency.shape
    assert (g.adjacency != ref.adjacency).nnz == 0


@pytest.mark.parametrize("kind", ["clustered", "random"])
@pytest.mark.parametrize(("n_bits", "radius"),
                         [(8, 1), (16, 0), (16, 2), (32, 3), (48, 2), (64, 2), (64, 5),
                          (96, 4), (256, 2), (8, 8)])
def test_merged_graph_equals_brute_force(n_bits: int, radius: int, kind: str) -> None:
    codes = _codes(400, n_bits, n_bits * 7 + radius, kind)
    graph = HammingGraphBuilder(radius=radius, chunk_pairs=1000).build(codes, n_bits)
    _assert_same_graph(graph, brute_force_graph(codes, n_bits, radius, merged=True))


@pytest.mark.parametrize(("n_bits", "radius"), [(16, 2), (64, 3)])
def test_per_image_graph_equals_brute_force(n_bits: int, radius: int) -> None:
    codes = clustered_codes(300, n_bits, 10, 0.04, seed=radius)
    graph = HammingGraphBuilder(radius=radius, merged=False).build(codes, n_bits)
    _assert_same_graph(graph, brute_force_graph(codes, n_bits, radius, merged=False))
    assert graph.adjacency.max() == n_bits  # identical codes joined with weight l


def test_expand_keeps_a_per_image_graph_and_counts_edges() -> None:
    codes = clustered_codes(200, 16, 5, 0.02, seed=4)
    merged = HammingGraphBuilder().build(codes, 16)
    images = merged.per_image()
    assert images.per_image() is images
    same = merged.node_counts * (merged.node_counts - 1) // 2
    rows, cols = merged.adjacency.nonzero()
    across = np.sum(merged.node_counts[rows] * merged.node_counts[cols]) // 2
    assert images.n_edges == same.sum() + across


def test_all_identical_and_single_code() -> None:
    codes = np.repeat(_codes(1, 32, 0, "random"), 50, axis=0)
    graph = HammingGraphBuilder().build(codes, 32)
    assert graph.n_nodes == 1 and graph.node_counts.tolist() == [50] and graph.n_edges == 0
    per_image = HammingGraphBuilder(merged=False).build(codes, 32)
    assert per_image.n_edges == 50 * 49 // 2
    one = HammingGraphBuilder().build(codes[:1], 32)
    assert one.n_nodes == 1 and one.n_edges == 0


def test_bad_inputs_are_user_errors() -> None:
    with pytest.raises(ParamsError):
        HammingGraphBuilder(radius=-1)
    with pytest.raises(DhrError):
        HammingGraphBuilder().build(_codes(10, 16, 0, "random"), 24)
    with pytest.raises(DhrError):
        HammingGraphBuilder().build(np.zeros((5, 33), dtype=np.uint8), 264)


@pytest.mark.parametrize(("n_bits", "radius"), [(32, 2), (64, 2), (128, 3)])
def test_merged_graph_equals_faiss_range_search(n_bits: int, radius: int) -> None:
    faiss = pytest.importorskip("faiss")
    codes = clustered_codes(600, n_bits, 12, 0.03, seed=n_bits)
    graph = HammingGraphBuilder(radius=radius).build(codes, n_bits)
    index = faiss.IndexBinaryFlat(n_bits)
    index.add(graph.node_codes)
    lims, dist, ids = index.range_search(graph.node_codes, radius + 1)  # strict radius in FAISS
    rows = np.repeat(np.arange(graph.n_nodes), np.diff(lims.astype(np.int64)))
    off = rows != ids
    expected = np.zeros((graph.n_nodes, graph.n_nodes))
    expected[rows[off], ids[off]] = n_bits - dist[off]
    np.testing.assert_array_equal(graph.adjacency.toarray(), expected)


def test_edges_match_distance_definition_directly() -> None:
    codes = _codes(150, 24, 3, "clustered")
    graph = HammingGraphBuilder(radius=3).build(codes, 24)
    full = hamming_matrix(graph.node_codes, graph.node_codes)
    rows, cols = graph.adjacency.nonzero()
    assert np.all(full[rows, cols] <= 3) and np.all(rows != cols)
    np.testing.assert_array_equal(graph.adjacency[rows, cols].A1, 24 - full[rows, cols])
    assert graph.n_edges == (np.triu(full <= 3, 1)).sum()


@pytest.mark.parametrize("dtype", [np.int16, np.float64])
@pytest.mark.parametrize("n_pairs", [0, 1, 500])
def test_symmetric_csr_equals_the_coo_route_and_is_canonical(n_pairs: int, dtype: type) -> None:
    """The triangle-merge assembly gives SciPy's symmetric COO -> CSR result, array for
    array (float64 data whatever the weights' dtype), rows sorted and free of duplicates
    (re-checked on a fresh matrix)."""
    rng = np.random.default_rng(n_pairs)
    m = 60  # some rows empty, some with only lower or only upper entries
    key = np.unique(rng.integers(0, m * m, size=3 * n_pairs))
    i, j = np.divmod(key, m)
    i, j = i[i < j][:n_pairs], j[i < j][:n_pairs]
    d = rng.integers(0, 5, size=i.size).astype(np.int16)
    got = symmetric_csr(i.astype(np.int32), j.astype(np.int32), (64 - d).astype(dtype), m)
    w = (64 - d).astype(np.float64)
    ref = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([i, j]),
                                                 np.concatenate([j, i]))), shape=(m, m))
    ref.sort_indices()
    for a, b in [(got.indptr, ref.indptr), (got.indices, ref.indices), (got.data, ref.data)]:
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert sp.csr_matrix((got.data, got.indices, got.indptr), shape=(m, m)).has_canonical_format
