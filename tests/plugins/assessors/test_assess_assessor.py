"""The importance-list assessor against a naive implementation of Eq. (1) and R = 1 - k/N."""

from __future__ import annotations

import numpy as np
import pytest
from dhr_plugins.assessors.importance_list import ImportanceListAssessor

from dhr_sdk.codes.packing import hamming_matrix
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.types import ImportanceList
from dhr_sdk.testing import clustered_codes


def make_list(n_images: int = 600, n_bits: int = 32, seed: int = 0) -> ImportanceList:
    """A synthetic importance list: distinct codes with random counts and sorted scores."""
    rng = np.random.default_rng(seed)
    codes = np.unique(clustered_codes(n_images, n_bits, 12, 0.06, seed=seed), axis=0)
    m = codes.shape[0]
    counts = rng.integers(1, 5, size=m)
    scores = rng.gamma(2.0, 1.0, size=m)
    scores[rng.random(m) < 0.1] = 0.0  # isolated codes score 0
    order = np.lexsort((np.arange(m), -scores))
    codes, scores, counts = codes[order], scores[order], counts[order]
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return ImportanceList(n_bits, codes, scores, np.arange(1, m + 1), counts, indptr,
                          np.arange(indptr[-1]))


def naive(il: ImportanceList, req: np.ndarray, w: np.ndarray, radius: int,
          total: str = "codes") -> tuple[float, int, int]:
    """S(q), k, N straight from the definitions, looping over every image of the list."""
    dist = hamming_matrix(req, il.codes)
    image_scores = np.repeat(il.scores, il.counts)
    image_rows = np.repeat(np.arange(il.n_codes), il.counts)
    s = 0.0
    any_match = False
    for i in range(req.shape[0]):
        matched = [image_scores[j] for j in range(image_scores.size)
                   if dist[i, image_rows[j]] <= radius]
        if matched:
            any_match = True
            s += w[i] / len(matched) * sum(matched)
    ranked = il.scores if total == "codes" else image_scores
    n = ranked.size
    if not any_match:
        return 0.0, n, n
    k = next((j + 1 for j in range(n) if ranked[j] <= s * (1 + 1e-9)), n)  # S_k <= S < S_k-1
    return s, k, n


@pytest.mark.parametrize("total", ["codes", "images"])
@pytest.mark.parametrize("radius", [0, 2, 3])
def test_matches_naive_definition(radius: int, total: str) -> None:
    il = make_list()
    rng = np.random.default_rng(1)
    req = clustered_codes(7, 32, 12, 0.06, seed=0)[:7]
    req = np.concatenate([req, rng.integers(0, 256, (2, 4), dtype=np.uint8)])
    w = rng.random(req.shape[0])
    w /= w.sum()
    a = ImportanceListAssessor(radius=radius, total=total).assess(il, req, w)
    s, k, n = naive(il, req, w, radius, total)
    assert a.score == pytest.approx(s, rel=1e-12)
    assert (a.rank, a.total) == (k, n)
    assert a.relevance == pytest.approx(1 - k / n)
    assert sum(m.contribution for m in a.per_image) == pytest.approx(a.score)


def test_rank_edges_and_ties() -> None:
    il = make_list()
    asr = ImportanceListAssessor(radius=0)
    top = asr.assess(il, il.codes[:1])
    assert top.rank == 1 and top.relevance == pytest.approx(1 - 1 / il.n_codes)
    # matching exactly row r gives k = first row with the same score
    r = 40
    a = asr.assess(il, il.codes[r:r + 1])
    assert a.rank == int(np.flatnonzero(il.scores == il.scores[r])[0]) + 1
    # a requirement whose only matches score 0 (isolated codes) gets R = 0, k = N, not
    # a position inside the zero-score block (which would measure the isolated share)
    zero_row = int(np.flatnonzero(il.scores == 0)[0])
    zero = asr.assess(il, il.codes[zero_row:zero_row + 1])
    assert zero.per_image[0].matched_codes >= 1
    assert (zero.rank, zero.relevance) == (il.n_codes, 0.0)
    assert any("importance 0" in w for w in zero.warnings)


def test_no_match_policies() -> None:
    il = make_list()
    far = np.bitwise_not(il.codes[:1])  # distance 32 from row 0, likely far from all
    dist = hamming_matrix(far, il.codes)[0]
    near = il.codes[5:6]
    req = np.concatenate([near, far])
    zero = ImportanceListAssessor(no_match="zero").assess(il, req)
    assert zero.per_image[1].matched_images == 0 and zero.per_image[1].contribution == 0
    assert zero.score == pytest.approx(0.5 * zero.per_image[0].mean_score)
    drop = ImportanceListAssessor(no_match="drop").assess(il, req)
    assert drop.score == pytest.approx(drop.per_image[0].mean_score)
    assert drop.per_image[1].weight == 0.0
    widen = ImportanceListAssessor(no_match="widen", max_radius=32).assess(il, req)
    assert widen.per_image[1].radius_used == int(dist.min())
    assert widen.per_image[1].matched_codes == int((dist <= dist.min()).sum())
    nothing = ImportanceListAssessor().assess(il, far)
    assert nothing.relevance == 0.0 and nothing.score == 0.0 and nothing.rank == il.n_codes


def test_per_image_explanations() -> None:
    il = make_list()
    req = il.codes[[3, 10]]
    a = ImportanceListAssessor(radius=2).assess(il, req, np.array([3.0, 1.0]))
    assert [m.weight for m in a.per_image] == pytest.approx([0.75, 0.25])
    dist = hamming_matrix(req, il.codes)
    for i, m in enumerate(a.per_image):
        rows = np.flatnonzero(dist[i] <= 2)
        assert m.matched_codes == rows.size and m.matched_images == il.counts[rows].sum()
        mine = a.pairs.query == i
        assert np.array_equal(a.pairs.row[mine], rows)
        assert np.array_equal(a.pairs.distance[mine], dist[i, rows])
    union = np.flatnonzero((dist <= 2).any(axis=0))
    assert a.matched_images == il.counts[union].sum()  # each image once, not sum of m_i


def test_index_is_reused_and_errors() -> None:
    il = make_list()
    asr = ImportanceListAssessor()
    assert asr.index_for(il) is asr.index_for(il)
    with pytest.raises(DhrError, match="bits"):
        asr.assess(il, np.zeros((1, 8), np.uint8))
    with pytest.raises(DhrError, match="weights"):
        asr.assess(il, il.codes[:2], np.array([1.0]))
    with pytest.raises(DhrError, match="zero"):
        asr.assess(il, il.codes[:2], np.array([0.0, 0.0]))
    with pytest.raises(DhrError, match="non-negative"):
        asr.assess(il, il.codes[:2], np.array([1.0, -1.0]))


def test_aggregate_relevance_averages_per_image_r() -> None:
    il = make_list()
    req = np.concatenate([il.codes[[2, 30, 60]], np.bitwise_not(il.codes[:1])])
    w = np.array([0.4, 0.3, 0.2, 0.1])
    single = ImportanceListAssessor()
    expected = sum(wi * single.assess(il, req[i:i + 1]).relevance for i, wi in enumerate(w))
    a = ImportanceListAssessor(aggregate="relevance").assess(il, req, w)
    assert a.relevance == pytest.approx(expected, abs=1 / il.n_codes)
    assert a.score == pytest.approx(single.assess(il, req, w).score)
