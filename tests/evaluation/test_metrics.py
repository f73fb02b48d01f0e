"""Retrieval metrics: hand-computed small cases (ties, no-relevant queries, multi-label)."""

from __future__ import annotations

import numpy as np
import pytest

from dhr_sdk.core.errors import DhrError
from dhr_sdk.evaluation.metrics import (
    as_multi_hot,
    evaluate_retrieval,
    hamming_ranking,
    map_at_k,
    radius_metrics,
    relevance,
)


def codes8(values: list[int]) -> np.ndarray:
    """8-bit packed codes from integers."""
    return np.array(values, dtype=np.uint8).reshape(-1, 1)


# Query 0b00000000; database at distances 0, 1, 1, 2, 3; relevant: items 0, 2, 4.
Q = codes8([0b00000000])
DB = codes8([0b00000000, 0b10000000, 0b01000000, 0b11000000, 0b11100000])
QL = np.array([1])
DBL = np.array([1, 0, 1, 0, 1])


def test_hand_computed_ap_and_radius_metrics() -> None:
    m = evaluate_retrieval(Q, DB, QL, DBL, topk=(2, 3, None), radius=2, k_values=(1, 2, 4, 5))
    # ranking 0,1,2,3,4 -> relevance 1,0,1,0,1
    assert m.map_at["2"] == pytest.approx(1.0)
    assert m.map_at["3"] == pytest.approx((1 + 2 / 3) / 2)
    assert m.map_at["all"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # within d <= 2: items 0..3 retrieved, 2 relevant out of 3 relevant in total
    assert m.precision_radius == pytest.approx(0.5)
    assert m.recall_radius == pytest.approx(2 / 3)
    assert m.map_radius == pytest.approx((1 + 2 / 3) / 2)
    assert m.radius_hit_rate == 1.0
    assert m.precision_at_k.tolist() == pytest.approx([1.0, 0.5, 0.5, 0.6])
    # PR curve by radius 0..8
    assert m.pr_precision[:4].tolist() == pytest.approx([1.0, 2 / 3, 0.5, 0.6])
    assert m.pr_recall[:4].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1.0])
    assert m.pr_recall[-1] == 1.0 and m.pr_radius.tolist() == list(range(9))


def test_ties_are_broken_by_database_index_not_relevance() -> None:
    q = codes8([0])
    db = codes8([0b00000001, 0b00000010])  # both at distance 1
    # irrelevant item first in database order: the relevant one ranks second
    assert map_at_k(q, db, [0], [1, 0], k=None) == pytest.approx(0.5)
    assert map_at_k(q, db, [0], [1, 0], k=1) == 0.0
    # the same tie with the relevant item first in database order
    assert map_at_k(q, db, [0], [0, 1], k=None) == pytest.approx(1.0)
    order, dist = hamming_ranking(q, db)
    assert order.tolist() == [[0, 1]] and dist.tolist() == [[1, 1]]


def test_ties_inside_radius_do_not_change_radius_precision() -> None:
    q = codes8([0])
    db = codes8([0b00000001, 0b00000010, 0b11111111])
    for labels in ([1, 0, 0], [0, 1, 0]):
        _, p, r = radius_metrics(q, db, [1], labels, radius=1)
        assert p == pytest.approx(0.5) and r == pytest.approx(1.0)


def test_query_without_relevant_items_zero_or_excluded() -> None:
    q = codes8([0, 0])
    db = codes8([0b1, 0b11, 0b111])
    ql = np.array([[1, 0, 0], [0, 0, 1]])          # second query: class 2, absent from db
    dbl = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    zero = evaluate_retrieval(q, db, ql, dbl, topk=(None,), radius=2)
    excl = evaluate_retrieval(q, db, ql, dbl, topk=(None,), radius=2, no_relevant="exclude")
    ap_first = (1 + 2 / 3) / 2
    assert zero.map_at["all"] == pytest.approx(ap_first / 2)
    assert excl.map_at["all"] == pytest.approx(ap_first)
    assert zero.n_no_relevant == excl.n_no_relevant == 1
    assert zero.n_evaluated == 2 and excl.n_evaluated == 1
    assert zero.precision_radius == pytest.approx(0.5 / 2)  # first query: 1 of 2 within d<=2
    assert excl.precision_radius == pytest.approx(0.5)
    assert zero.recall_radius == pytest.approx(0.5 / 2)
    all_excluded = evaluate_retrieval(q[1:], db, ql[1:], dbl, no_relevant="exclude")
    assert all_excluded.n_evaluated == 0 and all_excluded.map_at["1000"] == 0.0


def test_multi_label_relevance_is_any_shared_label() -> None:
    ql = np.array([[1, 1, 0]])
    dbl = np.array([[0, 1, 1], [0, 0, 1], [1, 0, 0], [0, 0, 0]])
    assert relevance(ql, dbl).tolist() == [[True, False, True, False]]
    db = codes8([0b1, 0b11, 0b111, 0b1111])  # distances 1, 2, 3, 4
    assert map_at_k(codes8([0]), db, ql, dbl, k=None) == pytest.approx((1 + 2 / 3) / 2)


def test_query_retrieving_nothing_within_radius_scores_zero() -> None:
    q = codes8([0, 0b11111111])
    db = codes8([0b1, 0b11])
    m = evaluate_retrieval(q, db, [0, 0], [0, 0], radius=1, topk=(None,))
    # query 0 retrieves item 0 (relevant) within d<=1; query 1 retrieves nothing
    assert m.precision_radius == pytest.approx(0.5)
    assert m.map_radius == pytest.approx(0.5)
    assert m.radius_hit_rate == pytest.approx(0.5)
    assert m.map_at["all"] == pytest.approx(1.0)


def test_class_indices_equal_one_hot_and_topk_capped() -> None:
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, (6, 2), dtype=np.uint8)
    db = rng.integers(0, 256, (30, 2), dtype=np.uint8)
    ql, dbl = rng.integers(0, 3, 6), rng.integers(0, 3, 30)
    a = evaluate_retrieval(q, db, ql, dbl, topk=(1000, None))
    b = evaluate_retrieval(q, db, as_multi_hot(ql, 3), as_multi_hot(dbl, 3), topk=(1000, None))
    assert a.map_at == b.map_at and a.precision_radius == b.precision_radius
    assert a.map_at["1000"] == a.map_at["all"]  # K beyond the database = full ranking
    assert a.k_values.max() == 30


def test_bad_inputs_are_user_errors() -> None:
    with pytest.raises(DhrError, match="bits"):
        evaluate_retrieval(codes8([0]), np.zeros((2, 2), np.uint8), [0], [0, 0])
    with pytest.raises(DhrError, match="no_relevant"):
        evaluate_retrieval(Q, DB, QL, DBL, no_relevant="drop")  # type: ignore[arg-type]
    with pytest.raises(DhrError, match="classes"):
        evaluate_retrieval(Q, DB, np.ones((1, 2)), np.ones((5, 3)))
    with pytest.raises(DhrError, match="radius"):
        evaluate_retrieval(Q, DB, QL, DBL, radius=9)
    with pytest.raises(DhrError, match="do not match"):
        evaluate_retrieval(Q, DB, QL, DBL[:3])
    with pytest.raises(DhrError, match="at least one"):
        evaluate_retrieval(Q, DB[:0], QL, DBL[:0])


def test_to_dict_round_trip() -> None:
    m = evaluate_retrieval(Q, DB, QL, DBL)
    d = m.to_dict()
    back = type(m).from_dict(d)
    assert back.to_dict() == d
