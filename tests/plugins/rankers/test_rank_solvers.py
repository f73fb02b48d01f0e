"""SHR and CPR against networkx PageRank, each other, and the closed form."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from dhr_plugins.rankers._common import ConvergenceWarning
from dhr_plugins.rankers.cpr import CPRRanker
from dhr_plugins.rankers.shr import SHRRanker
from scipy.sparse import csgraph

from dhr_sdk.codes.packing import pack_bits
from dhr_sdk.core.types import HashGraph
from dhr_sdk.testing import brute_force_graph, clustered_codes

TIGHT = {"solver": "power", "eps": 1e-13, "max_iter": 200_000}


def _subgraph(graph: HashGraph, keep: np.ndarray) -> HashGraph:
    """Per-image graph restricted to the nodes ``keep``."""
    adj = graph.adjacency[keep][:, keep].tocsr()
    n = keep.size
    return HashGraph(graph.n_bits, graph.radius, graph.node_codes[keep], np.ones(n, np.int64),
                     np.arange(n), adj, merged=False)


def _connected_image_graph(seed: int) -> HashGraph:
    codes = clustered_codes(150, 16, 3, 0.06, seed=seed)
    graph = brute_force_graph(codes, 16, 3, merged=False)
    _, labels = csgraph.connected_components(graph.adjacency, directed=False)
    biggest = np.flatnonzero(labels == np.bincount(labels).argmax())
    return _subgraph(graph, biggest)


def _networkx(graph: HashGraph, alpha: float) -> np.ndarray:
    g = nx.Graph()
    g.add_nodes_from(range(graph.n_nodes))
    coo = sp.triu(graph.adjacency, k=1).tocoo()
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(),
                                  strict=True))
    # networkx stops when the L1 change < N * tol: make it tight (its default scales with N)
    pr = nx.pagerank(g, alpha=alpha, weight="weight", tol=1e-15, max_iter=100_000)
    return np.array([pr[i] for i in range(graph.n_nodes)]) * graph.n_nodes


def _mixed_codes(seed: int) -> np.ndarray:
    """Duplicates, several components, isolated codes, a 2-node component."""
    rng = np.random.default_rng(seed)
    clustered = clustered_codes(240, 24, 6, 0.05, seed=seed)
    lone = pack_bits(rng.integers(0, 2, size=(15, 24)))
    dup = np.repeat(lone[:2], 4, axis=0)
    return np.concatenate([clustered, lone, dup])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("solver", ["power", "closed"])
def test_shr_equals_networkx_undamped(seed: int, solver: str) -> None:
    graph = _connected_image_graph(seed)
    res = SHRRanker(**{**TIGHT, "solver": solver}).rank(graph)
    assert res.converged and res.info.get("bipartite_components", 0) == 0
    np.testing.assert_allclose(res.node_scores, _networkx(graph, 1.0), rtol=1e-8)
    assert res.node_scores.sum() == pytest.approx(graph.n_nodes)


@pytest.mark.parametrize("solver", ["power", "closed"])
def test_damped_variant_equals_networkx(solver: str) -> None:
    codes = _mixed_codes(3)  # isolated (dangling) images and bipartite components included
    graph = brute_force_graph(codes, 24, 2, merged=False)
    for ranker in (SHRRanker, CPRRanker):
        res = ranker(**{**TIGHT, "solver": solver, "damping": 0.85}).rank(graph)
        assert res.converged
        np.testing.assert_allclose(res.node_scores, _networkx(graph, 0.85), rtol=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("params", [{"solver": "power"}, {"solver": "power", "max_iter": 7},
                                    {"solver": "closed"}, {"solver": "power", "damping": 0.7},
                                    {"solver": "closed", "damping": 0.7}])
def test_cpr_equals_shr_per_image(seed: int, params: dict[str, object]) -> None:
    codes = _mixed_codes(seed)
    merged = brute_force_graph(codes, 24, 2, merged=True)
    per_image = brute_force_graph(codes, 24, 2, merged=False)
    assert merged.n_nodes < per_image.n_nodes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # bipartite parts may oscillate
        cpr = CPRRanker(**params).rank(merged)  # type: ignore[arg-type]
        shr = SHRRanker(**params).rank(per_image)  # type: ignore[arg-type]
        shr_merged = SHRRanker(**params).rank(merged)  # type: ignore[arg-type]
    cpr_images = cpr.node_scores[merged.image_nodes]
    np.testing.assert_allclose(cpr_images, shr.node_scores[per_image.image_nodes], rtol=1e-9)
    assert cpr.iterations == shr.iterations and cpr.converged == shr.converged
    assert cpr.info["components"] == shr.info["components"]  # duplicates share components
    # SHR given the merged graph expands it and gives the same per-node scores
    np.testing.assert_allclose(shr_merged.node_scores, cpr.node_scores, rtol=1e-9)


def test_isolated_and_identical_codes_follow_the_closed_form() -> None:
    rng = np.random.default_rng(5)
    lone = pack_bits(rng.integers(0, 2, size=(3, 64)))  # far apart: no edges at radius 2
    codes = np.concatenate([lone[:1], np.repeat(lone[1:2], 5, axis=0), lone[2:]])
    merged = brute_force_graph(codes, 64, 2, merged=True)
    for solver in ("power", "closed"):
        res = CPRRanker(solver=solver).rank(merged)
        by_image = res.node_scores[merged.image_nodes]
        np.testing.assert_allclose(by_image, [0, 1, 1, 1, 1, 1, 0])
    same = np.repeat(lone[:1], 9, axis=0)
    for graph in (brute_force_graph(same, 64, 2, True), brute_force_graph(same, 64, 2, False)):
        for ranker in (CPRRanker(solver="power"), SHRRanker(solver="power"), CPRRanker()):
            np.testing.assert_allclose(ranker.rank(graph).node_scores, 1.0)


def test_power_iteration_equals_closed_form_when_it_converges() -> None:
    codes = clustered_codes(400, 16, 4, 0.04, seed=11)
    graph = brute_force_graph(codes, 16, 2, merged=True)
    power = CPRRanker(**TIGHT).rank(graph)
    closed = CPRRanker(solver="closed").rank(graph)
    assert power.converged and "bipartite_components" not in power.info
    np.testing.assert_allclose(power.node_scores, closed.node_scores, rtol=1e-9, atol=1e-10)
    # the paper's step test (eps = 1e-4) stops much earlier; on slowly mixing components
    # the step is small while the distance to the limit is not (see docs/ranking.md)
    default = CPRRanker(solver="power").rank(graph)
    assert default.converged and default.iterations < power.iterations
    assert np.abs(default.node_scores - closed.node_scores).max() > 10 * default.residual


def _star() -> HashGraph:
    bits = np.zeros((4, 8), dtype=np.uint8)
    for leaf in range(1, 4):
        bits[leaf, leaf] = 1  # leaves at distance 1 from the centre, 2 from each other
    return brute_force_graph(pack_bits(bits), 8, 1, merged=True)


def test_star_graph_is_reported_as_not_converging() -> None:
    graph = _star()
    with pytest.warns(ConvergenceWarning, match="did not converge in 50 iterations"):
        res = CPRRanker(solver="power", max_iter=50).rank(graph)
    assert not res.converged and res.iterations == 50 and res.residual > 1.0
    assert res.info["bipartite_components"] == 1
    closed = CPRRanker().rank(graph)  # the default: exact, where power oscillates
    assert closed.info["solver"] == "closed" and closed.converged
    np.testing.assert_allclose(closed.node_scores, [2.0, 2 / 3, 2 / 3, 2 / 3])
    damped = CPRRanker(solver="power", damping=0.85).rank(graph)
    assert damped.converged and damped.node_scores[0] > damped.node_scores[1]


def _paper_eq17(graph: HashGraph) -> np.ndarray:
    """The paper's CPR literally: X^0 = 1 per cluster, iterate Eq. (16), rescale by Eq. (17)."""
    from dhr_plugins.rankers._solvers import mass_matrix, weighted_degree

    c = graph.node_counts
    matrix = mass_matrix(graph.adjacency, c, graph.n_bits,
                         weighted_degree(graph.adjacency, c, graph.n_bits))
    x = np.ones(graph.n_nodes)
    for _ in range(20_000):
        x = matrix @ x
    return x / c * (c.sum() / graph.n_nodes)


def test_paper_rescaling_is_exact_only_on_connected_graphs() -> None:
    codes = clustered_codes(120, 16, 1, 0.04, seed=3)  # one cluster: connected graph
    connected = brute_force_graph(codes, 16, 3, merged=True)
    assert csgraph.connected_components(connected.adjacency)[0] == 1
    exact = CPRRanker(solver="closed").rank(connected).node_scores
    np.testing.assert_allclose(_paper_eq17(connected), exact, rtol=1e-8)
    two = np.concatenate([codes, clustered_codes(60, 16, 1, 0.01, seed=9)])
    split = brute_force_graph(two, 16, 3, merged=True)
    assert csgraph.connected_components(split.adjacency)[0] > 1
    exact = CPRRanker(solver="closed").rank(split).node_scores
    assert np.abs(_paper_eq17(split) - exact).max() > 0.05
