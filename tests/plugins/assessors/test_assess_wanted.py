"""The wanted-count assessor against a brute-force count over every image of the list."""

from __future__ import annotations

import numpy as np
import pytest
from dhr_plugins.assessors.wanted_count import WantedCountAssessor

from dhr_sdk.codes.packing import hamming_matrix
from dhr_sdk.core.types import ImportanceList
from dhr_sdk.testing import clustered_codes


def make_list(n_images: int = 500, n_bits: int = 32, seed: int = 0) -> ImportanceList:
    rng = np.random.default_rng(seed)
    codes = np.unique(clustered_codes(n_images, n_bits, 10, 0.06, seed=seed), axis=0)
    m = codes.shape[0]
    counts = rng.integers(1, 4, size=m)
    scores = rng.gamma(2.0, 1.0, size=m)
    scores[rng.random(m) < 0.2] = 0.0
    order = np.lexsort((np.arange(m), -scores))
    codes, scores, counts = codes[order], scores[order], counts[order]
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return ImportanceList(n_bits, codes, scores, np.arange(1, m + 1), counts, indptr,
                          np.arange(indptr[-1]))


def brute_count(il: ImportanceList, req: np.ndarray, w: np.ndarray, radius: int,
                unit: np.ndarray | None = None) -> float:
    """Loop over every image: it counts max(W_i / max W) over the requirement images
    within the radius of its code (0 when none)."""
    dist = hamming_matrix(req, il.codes)
    rel = w / w.max()
    total = 0.0
    image_rows = np.repeat(np.arange(il.n_codes), il.counts)
    for row in image_rows:
        hits = [rel[i] for i in range(req.shape[0]) if dist[i, row] <= radius]
        if hits:
            total += max(hits) * (1.0 if unit is None else unit[row])
    return total


def requirement(il: ImportanceList, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    near = clustered_codes(6, il.n_bits, 10, 0.06, seed=0)[:6]
    return np.concatenate([near, rng.integers(0, 256, (2, il.n_bits // 8), dtype=np.uint8)])


@pytest.mark.parametrize("radius", [0, 2, 4])
def test_count_matches_brute_force(radius: int) -> None:
    il = make_list()
    req = requirement(il)
    w = np.random.default_rng(2).random(req.shape[0]) + 0.1
    a = WantedCountAssessor(radius=radius).assess(il, req, w)
    e = a.estimate
    assert e is not None
    assert e.count == pytest.approx(brute_count(il, req, w, radius), rel=1e-12)
    assert e.share == pytest.approx(e.count / il.n_images)
    union = np.flatnonzero((hamming_matrix(req, il.codes) <= radius).any(axis=0))
    assert e.matched_images == a.matched_images == il.counts[union].sum()
    assert e.low <= e.count <= e.high and e.low >= 0 and e.high <= il.n_images
    assert a.ranking_value() == e.count and a.relevance == e.share


def test_equal_weights_count_each_image_once() -> None:
    il = make_list()
    req = np.repeat(il.codes[:3], 4, axis=0)  # the same examples many times over
    once = WantedCountAssessor().assess(il, il.codes[:3]).estimate
    many = WantedCountAssessor().assess(il, req).estimate
    assert once is not None and many is not None
    assert many.count == once.count == once.matched_images


def test_jackknife_interval_against_leave_one_out() -> None:
    il = make_list()
    req = requirement(il)
    asr = WantedCountAssessor(level=0.9)
    e = asr.assess(il, req).estimate
    assert e is not None
    n = req.shape[0]
    loo = np.array([brute_count(il, np.delete(req, i, axis=0), np.ones(n - 1), 2)
                    for i in range(n)])
    se = np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum())
    assert e.low == pytest.approx(max(0.0, e.count - 1.6448536 * se), rel=1e-6)
    assert e.high == pytest.approx(min(il.n_images, e.count + 1.6448536 * se), rel=1e-6)


def test_importance_weighting_and_no_match() -> None:
    il = make_list()
    req = requirement(il)
    a = WantedCountAssessor(weighting="importance").assess(il, req).estimate
    mean = float(np.dot(il.counts, il.scores) / il.counts.sum())
    unit = il.scores / mean
    assert a is not None
    assert a.count == pytest.approx(brute_count(il, req, np.ones(req.shape[0]), 2, unit))
    far = np.bitwise_not(il.codes[:1])
    dist = hamming_matrix(far, il.codes)[0]
    nothing = WantedCountAssessor(radius=int(dist.min()) - 1).assess(il, far)
    assert nothing.estimate is not None and nothing.estimate.count == 0
    assert any("one requirement image" in w for w in nothing.warnings)
    assert any("no requirement image matched" in w for w in nothing.warnings)


def test_one_assessor_keeps_an_index_per_list() -> None:
    """Many stores, one assessor: each list's index is built once, not once per call."""
    lists = [make_list(seed=s) for s in range(3)]
    asr = WantedCountAssessor()
    first = [asr.index_for(il) for il in lists]
    again = [asr.index_for(il) for il in lists]
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert len({id(i) for i in first}) == 3
