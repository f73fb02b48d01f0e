"""Incremental growth (``add_codes``): equal to a full rebuild on random splits; errors."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.offline.grow import add_codes
from dhr_sdk.offline.relevance import graph_and_rank, import_codes
from dhr_sdk.store import Store
from dhr_sdk.testing import clustered_codes

N_BITS = 32
RANKERS = [("cpr", {"solver": "closed"}, "touched"),
           ("cpr", {"damping": 0.85}, "all"),
           ("shr", {"solver": "closed"}, "all")]


def _codes(seed: int) -> np.ndarray:
    """Clusters (many duplicates), far random codes (isolated) and isolated duplicates."""
    rng = np.random.default_rng(seed)
    clustered = clustered_codes(420, N_BITS, 12, 0.03, seed=seed)
    lone = rng.integers(0, 256, size=(60, N_BITS // 8), dtype=np.uint8)
    return np.concatenate([clustered, lone, lone[:10]])


def _store(path: Path, codes: np.ndarray, names: list[str], ranker: str,
           params: dict[str, Any]) -> Path:
    np.savez(path.with_suffix(".npz"), codes=codes, names=np.array(names))
    import_codes(path, path.with_suffix(".npz"), overwrite=True)
    graph_and_rank(path, get_registry().create("graph_builder", "hamming", {"radius": 2}),
                   get_registry().create("ranker", ranker, params))
    return path


def _state(path: Path) -> dict[str, Any]:
    s = Store(path)
    graph, rank, il = s.read_graph(), s.read_rank(), s.read_importance()
    a = graph.adjacency.tocoo()
    codes = graph.node_codes
    return {
        "ids": s.read_collection().image_ids, "codes": s.read_codes().codes,
        "edges": {(codes[i].tobytes(), codes[j].tobytes(), float(w))
                  for i, j, w in zip(a.row, a.col, a.data, strict=True)},
        "scores": {codes[t].tobytes(): float(rank.node_scores[t]) for t in range(len(codes))},
        "il": il, "rank": rank, "verified": s.verify()}


def _assert_equal(grown: dict[str, Any], rebuilt: dict[str, Any], exact: bool) -> None:
    assert grown["ids"] == rebuilt["ids"]
    np.testing.assert_array_equal(grown["codes"], rebuilt["codes"])
    assert grown["edges"] == rebuilt["edges"]
    assert grown["scores"].keys() == rebuilt["scores"].keys()
    for code, score in rebuilt["scores"].items():
        assert grown["scores"][code] == pytest.approx(score, rel=1e-9, abs=1e-12)
    a, b = grown["il"], rebuilt["il"]
    for col in ("codes", "order", "counts", "members_indptr", "members"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    if exact:
        np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-9, atol=1e-12)
    info_a = {k: v for k, v in grown["rank"].info.items() if k != "seconds"}
    assert info_a == {k: v for k, v in rebuilt["rank"].info.items() if k != "seconds"}
    assert set(grown["verified"].values()) == {"verified"}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("ranker", "params", "reranked"), RANKERS)
def test_add_equals_a_full_rebuild(tmp_path: Path, seed: int, ranker: str,
                                   params: dict[str, Any], reranked: str) -> None:
    codes = _codes(seed)
    names = [f"img{i:04d}" for i in range(codes.shape[0])]
    rng = np.random.default_rng(100 + seed)
    order = rng.permutation(codes.shape[0])
    cut = [int(0.7 * order.size), int(0.85 * order.size)]
    base, first, second = np.split(order, cut)
    grown = _store(tmp_path / "grown.h5", codes[base], [names[i] for i in base], ranker, params)
    report = add_codes(grown, codes[first], [names[i] for i in first])
    assert report.reranked == reranked and report.images_added == first.size
    assert report.components_reranked <= report.components
    report = add_codes(grown, codes[second], [names[i] for i in second])  # grow a grown store
    assert report.images == codes.shape[0]
    everything = np.concatenate([base, first, second])
    rebuilt = _store(tmp_path / "rebuilt.h5", codes[everything],
                     [names[i] for i in everything], ranker, params)
    _assert_equal(_state(grown), _state(rebuilt), exact=reranked == "touched")
    assert report.nodes == len(_state(rebuilt)["scores"])
    assert report.edges == len(_state(rebuilt)["edges"]) // 2


def test_closed_form_reranks_only_touched_components(tmp_path: Path) -> None:
    codes = _codes(3)
    names = [f"img{i:04d}" for i in range(codes.shape[0])]
    store = _store(tmp_path / "s.h5", codes, names, "cpr", {"solver": "closed"})
    before = Store(store).read_rank()
    far = np.full((1, N_BITS // 8), 0x5A, dtype=np.uint8)  # a new isolated code
    report = add_codes(store, np.concatenate([far, far]), ["new0", "new1"])
    assert (report.new_distinct_codes, report.new_edges, report.components_reranked) == (1, 0, 1)
    assert report.components == before.info["components"] + 1
    after = Store(store).read_rank()
    np.testing.assert_array_equal(after.node_scores[:-1], before.node_scores)
    assert after.node_scores[-1] == 1.0  # two identical images, no other neighbour


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_errors_leave_the_store_unchanged(tmp_path: Path) -> None:
    codes = _codes(4)
    names = [f"img{i:04d}" for i in range(codes.shape[0])]
    store = _store(tmp_path / "s.h5", codes, names, "cpr", {"solver": "closed"})
    before = _digest(store)
    new = codes[:2] ^ np.uint8(1)
    cases = [
        (lambda: add_codes(store, new, ["img0001", "fresh"]), "already in the store"),
        (lambda: add_codes(store, new, ["a", "a"]), "not unique"),
        (lambda: add_codes(store, new, ["a"]), "one per code"),
        (lambda: add_codes(store, new[:, :2], ["a", "b"]), "bits"),
    ]
    for call, message in cases:
        with pytest.raises(DhrError, match=message):
            call()
        assert _digest(store) == before


def test_refuses_stores_without_rank_or_with_a_per_image_graph(tmp_path: Path) -> None:
    codes = _codes(5)
    names = [f"img{i:04d}" for i in range(codes.shape[0])]
    np.savez(tmp_path / "c.npz", codes=codes, names=np.array(names))
    bare = tmp_path / "bare.h5"
    import_codes(bare, tmp_path / "c.npz")
    with pytest.raises(DhrError, match="has no graph"):
        add_codes(bare, codes[:1] ^ np.uint8(3), ["x"])
    per_image = tmp_path / "per_image.h5"
    import_codes(per_image, tmp_path / "c.npz")
    graph_and_rank(per_image,
                   get_registry().create("graph_builder", "hamming", {"merged": False}),
                   get_registry().create("ranker", "shr", {"solver": "closed"}))
    before = _digest(per_image)
    with pytest.raises(DhrError, match="merged"):
        add_codes(per_image, codes[:1] ^ np.uint8(3), ["x"])
    assert _digest(per_image) == before


def test_in_place_growth_keeps_components_and_degrees_exact(tmp_path: Path) -> None:
    import h5py

    from dhr_sdk.store.graph_parts import components, degree

    codes = _codes(6)
    names = [f"img{i:04d}" for i in range(codes.shape[0])]
    store = _store(tmp_path / "s.h5", codes[:300], names[:300], "cpr", {"solver": "closed"})
    for part in (slice(300, 420), slice(420, None)):
        before = store.stat().st_ino
        add_codes(store, codes[part], names[part])
        assert store.stat().st_ino == before  # edited in place, not replaced
    graph = Store(store).read_graph()
    with h5py.File(store, "r") as h5:
        labels, w = h5["graph/node_components"][()], h5["graph/node_degree"][()]
        n_comp = int(h5["graph"].attrs["components"])
        assert h5["graph/added_edges/i"].shape[0] > 0
    np.testing.assert_array_equal(w, degree(graph.adjacency, graph.node_counts, N_BITS))
    fresh_n, fresh = components(graph.adjacency)
    assert n_comp == fresh_n == np.unique(labels).size
    info = Store(store).summary()["elements"]["graph"]  # dhr info sees the appended edges
    assert (info["nodes"], info["edges"], info["components"]) == (
        graph.n_nodes, graph.n_edges, fresh_n)
    pairs = set(zip(labels.tolist(), fresh.tolist(), strict=True))
    assert len(pairs) == fresh_n  # the same partition of the nodes
