"""Importance list (section 3.4): columns, sort order, tie rule, merged vs per-image graphs."""

from __future__ import annotations

import numpy as np
import pytest
from dhr_plugins.rankers.cpr import CPRRanker
from dhr_plugins.rankers.shr import SHRRanker

from dhr_sdk.codes.packing import pack_bits
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.types import RankResult
from dhr_sdk.offline.importance import build_importance_list
from dhr_sdk.testing import brute_force_graph, clustered_codes


def _naive(codes: np.ndarray, image_scores: np.ndarray) -> list[tuple[float, bytes, list[int]]]:
    """Rows as (S, H bytes, D) sorted by S desc, then code bytes asc: the tie rule, naively."""
    groups: dict[bytes, list[int]] = {}
    for i, code in enumerate(codes):
        groups.setdefault(code.tobytes(), []).append(i)
    rows = [(float(np.mean(image_scores[d])), h, d) for h, d in groups.items()]
    return sorted(rows, key=lambda r: (-r[0], r[1]))


def _check(il, expected) -> None:  # type: ignore[no-untyped-def]
    assert il.n_codes == len(expected)
    np.testing.assert_array_equal(il.order, np.arange(1, len(expected) + 1))
    for r, (score, code, images) in enumerate(expected):
        assert il.codes[r].tobytes() == code
        assert il.scores[r] == pytest.approx(score, rel=1e-9)
        assert il.counts[r] == len(images)
        assert il.images_of(r).tolist() == images
    assert np.all(np.diff(il.scores) <= 0)


def test_merged_and_per_image_lists_agree_with_naive_grouping() -> None:
    codes = clustered_codes(300, 16, 8, 0.05, seed=4)
    merged = brute_force_graph(codes, 16, 2, merged=True)
    per_image = brute_force_graph(codes, 16, 2, merged=False)
    res = CPRRanker(solver="closed").rank(merged)
    image_scores = res.node_scores[merged.image_nodes]
    expected = _naive(codes, image_scores)
    _check(build_importance_list(merged, res), expected)
    shr = SHRRanker(solver="closed").rank(per_image)
    il = build_importance_list(per_image, shr)
    _check(il, _naive(codes, shr.node_scores))
    assert il.n_images == 300 and sorted(il.members.tolist()) == list(range(300))


def test_ties_are_broken_by_code_bytes() -> None:
    bits = np.zeros((5, 8), dtype=np.uint8)
    bits[0, 0] = bits[1, 7] = bits[2, 3] = 1  # three isolated codes at radius 0
    bits[3:, :] = 1  # one code for two images
    codes = pack_bits(bits)[[2, 0, 3, 1, 4]]
    graph = brute_force_graph(codes, 8, 0, merged=True)
    res = CPRRanker(solver="closed").rank(graph)
    il = build_importance_list(graph, res)
    assert il.scores.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert [c.tobytes().hex() for c in il.codes] == ["ff", "01", "10", "80"]
    assert il.images_of(0).tolist() == [2, 4]


def test_rows_follow_scores_not_node_order() -> None:
    codes = clustered_codes(60, 16, 3, 0.05, seed=1)
    graph = brute_force_graph(codes, 16, 2, merged=True)
    scores = np.arange(graph.n_nodes, dtype=float)  # reversed node order expected
    il = build_importance_list(graph, RankResult(scores, "test", 0, True, 0.0))
    np.testing.assert_array_equal(il.codes, graph.node_codes[::-1])
    with pytest.raises(DhrError, match="re-run"):
        build_importance_list(graph, RankResult(scores[:-1], "test", 0, True, 0.0))
