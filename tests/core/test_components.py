"""Connected components without csgraph on small graphs: the same labels as csgraph."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from dhr_sdk.core import components
from dhr_sdk.core.components import connected_components, numpy_components


def _random_graph(n: int, edges: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, edges), rng.integers(0, n, edges)
    a = sp.csr_matrix((np.ones(edges), (i, j)), shape=(n, n))
    return sp.csr_matrix(a + a.T)


@pytest.mark.parametrize(("n", "edges", "seed"), [(1, 0, 0), (7, 0, 0), (50, 20, 1),
                                                   (500, 400, 2), (3000, 6000, 3)])
def test_numpy_labels_equal_csgraph(n: int, edges: int, seed: int) -> None:
    a = _random_graph(n, edges, seed)
    want_n, want = csgraph.connected_components(a, directed=False)
    got_n, got = numpy_components(a)
    assert got_n == want_n and np.array_equal(got, want)


def test_a_long_path_in_random_order_is_one_component() -> None:
    n = 20_000
    order = np.random.default_rng(4).permutation(n)
    a = sp.csr_matrix((np.ones(n - 1), (order[:-1], order[1:])), shape=(n, n))
    count, labels = numpy_components(a + a.T)
    assert count == 1 and not labels.any()


def test_large_graphs_go_to_csgraph(monkeypatch: pytest.MonkeyPatch) -> None:
    a = _random_graph(300, 200, 5)
    small = connected_components(a)
    monkeypatch.setattr(components, "CSGRAPH_FROM", 10)
    monkeypatch.setattr(components, "numpy_components", None)  # must not be called
    large = connected_components(a)
    assert small[0] == large[0] and np.array_equal(small[1], large[1])
