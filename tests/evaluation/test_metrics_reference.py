"""Retrieval metrics against a straightforward per-query Python implementation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dhr_sdk.evaluation.metrics import evaluate_retrieval, per_query_metrics


def naive_query(q_code: bytes, db_codes: list[bytes], q_labels: set[int],
                db_labels: list[set[int]], cutoffs: list[int | None], radius: int,
                ks: list[int]) -> dict[str, Any]:
    """The definitions, written out with loops, sets and Python integers."""
    qi = int.from_bytes(q_code, "big")
    dist = [bin(qi ^ int.from_bytes(c, "big")).count("1") for c in db_codes]
    rel = [bool(q_labels & labels) for labels in db_labels]
    order = sorted(range(len(db_codes)), key=lambda j: (dist[j], j))

    def ap(items: list[int]) -> float:
        hits, total = 0, 0.0
        for pos, j in enumerate(items, start=1):
            if rel[j]:
                hits += 1
                total += hits / pos
        return total / hits if hits else 0.0

    within = [j for j in order if dist[j] <= radius]
    n_rel = sum(rel)
    rel_within = sum(rel[j] for j in within)
    return {
        "ap_at": [ap(order if k is None else order[:k]) for k in cutoffs],
        "ap_radius": ap(within),
        "p_radius": rel_within / len(within) if within else 0.0,
        "r_radius": rel_within / n_rel if n_rel else 0.0,
        "p_at_k": [sum(rel[j] for j in order[:k]) / k for k in ks],
        "n_rel": n_rel,
    }


@pytest.mark.parametrize("n_bits,seed", [(8, 0), (16, 1), (32, 2)])
def test_matches_naive_on_random_multilabel_data(n_bits: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_q, n_db, n_cls = 23, 157, 5
    # few distinct codes -> many ties; sparse labels -> some queries without relevant items
    centres = rng.integers(0, 256, (6, n_bits // 8), dtype=np.uint8)
    qc = centres[rng.integers(0, 6, n_q)] ^ (rng.random((n_q, n_bits // 8)) < 0.1).astype(np.uint8)
    dbc = centres[rng.integers(0, 6, n_db)]
    ql = (rng.random((n_q, n_cls)) < 0.2).astype(np.uint8)
    dbl = (rng.random((n_db, n_cls)) < 0.25).astype(np.uint8)
    cutoffs: list[int | None] = [1, 10, 50, None]
    radius, ks = 2, [1, 5, 20, 157]
    per = per_query_metrics(qc, dbc, ql, dbl, topk=cutoffs, radius=radius, k_values=ks,
                            chunk_size=7)
    db_sets = [set(np.flatnonzero(r).tolist()) for r in dbl]
    db_bytes = [c.tobytes() for c in dbc]
    ref = [naive_query(qc[i].tobytes(), db_bytes, set(np.flatnonzero(ql[i]).tolist()),
                       db_sets, cutoffs, radius, ks) for i in range(n_q)]
    assert any(r["n_rel"] == 0 for r in ref), "test data should contain no-relevant queries"
    np.testing.assert_allclose(per["ap_at"], [r["ap_at"] for r in ref], atol=1e-12)
    np.testing.assert_allclose(per["ap_radius"], [r["ap_radius"] for r in ref], atol=1e-12)
    np.testing.assert_allclose(per["pr_precision"][:, radius], [r["p_radius"] for r in ref])
    np.testing.assert_allclose(per["pr_recall"][:, radius], [r["r_radius"] for r in ref])
    np.testing.assert_allclose(per["precision_at_k"], [r["p_at_k"] for r in ref])
    assert per["n_relevant"].tolist() == [r["n_rel"] for r in ref]

    for policy in ("zero", "exclude"):
        m = evaluate_retrieval(qc, dbc, ql, dbl, topk=cutoffs, radius=radius, k_values=ks,
                               no_relevant=policy)
        kept = [r for r in ref if policy == "zero" or r["n_rel"] > 0]
        assert m.n_evaluated == len(kept)
        assert m.map_at["all"] == pytest.approx(np.mean([r["ap_at"][-1] for r in kept]))
        assert m.map_at["10"] == pytest.approx(np.mean([r["ap_at"][1] for r in kept]))
        assert m.map_radius == pytest.approx(np.mean([r["ap_radius"] for r in kept]))
        assert m.precision_radius == pytest.approx(np.mean([r["p_radius"] for r in kept]))


def test_chunking_does_not_change_results() -> None:
    rng = np.random.default_rng(5)
    qc = rng.integers(0, 256, (40, 4), dtype=np.uint8)
    dbc = rng.integers(0, 256, (300, 4), dtype=np.uint8)
    ql, dbl = rng.integers(0, 4, 40), rng.integers(0, 4, 300)
    a = evaluate_retrieval(qc, dbc, ql, dbl, chunk_size=3)
    b = evaluate_retrieval(qc, dbc, ql, dbl)
    assert a.to_dict() == b.to_dict()


def test_pr_curve_shape_and_limits() -> None:
    rng = np.random.default_rng(3)
    qc = rng.integers(0, 256, (50, 2), dtype=np.uint8)
    dbc = rng.integers(0, 256, (200, 2), dtype=np.uint8)
    ql, dbl = rng.integers(0, 3, 50), rng.integers(0, 3, 200)
    m = evaluate_retrieval(qc, dbc, ql, dbl)
    assert np.all(np.diff(m.pr_recall) >= 0) and m.pr_recall[-1] == pytest.approx(1.0)
    # at radius = n_bits everything is retrieved: precision = share of relevant items
    share = np.mean([(dbl == c).mean() for c in ql])
    assert m.pr_precision[-1] == pytest.approx(share)
