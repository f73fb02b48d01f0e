"""One joint Hamming index over several importance lists answers as each list's own index."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from dhr_plugins.assessors import _common
from dhr_plugins.assessors.importance_list import ImportanceListAssessor
from dhr_plugins.assessors.wanted_count import WantedCountAssessor

from dhr_sdk.codes.hamming_index import HammingIndex
from dhr_sdk.codes.matching import match_pairs
from tests.plugins.assessors.test_assess_assessor import make_list


def _lists(n_bits: int = 32) -> list:
    return [make_list(300 + 150 * k, n_bits, seed=k) for k in range(4)]


def _requirement(lists: list, seed: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = np.concatenate([il.codes[:3] for il in lists])
    bits = np.unpackbits(picked, axis=1)
    return np.packbits(bits ^ (rng.random(bits.shape) < 0.03), axis=1)


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_joint_pairs_equal_each_lists_own_search(radius: int) -> None:
    lists = _lists()
    codes = _requirement(lists)
    found = _common.search_many(lists, codes, radius)
    for il, pairs in zip(lists, found, strict=True):
        want = match_pairs(HammingIndex(il.codes, il.n_bits), codes, radius)
        assert pairs is not None
        for got, ref in ((pairs.query, want.query), (pairs.row, want.row),
                         (pairs.distance, want.distance)):
            np.testing.assert_array_equal(got, ref)


def test_other_bit_lengths_and_single_lists_are_left_to_assess() -> None:
    lists = _lists()
    wide = make_list(200, 64, seed=5)
    codes = _requirement(lists)
    found = _common.search_many([lists[0], wide, lists[1]], codes, 2)
    assert found[1] is None and found[0] is not None and found[2] is not None
    assert _common.search_many([lists[0]], codes, 2) == [None]


def test_a_subset_is_answered_by_the_joint_index_that_covers_it() -> None:
    lists = _lists()
    codes = _requirement(lists)
    _common.search_many(lists, codes, 2)
    joints = len(_common._JOINTS)
    sub = _common.search_many([lists[2], lists[0]], codes, 1)
    assert len(_common._JOINTS) == joints  # no new index for a covered subset
    for il, pairs in zip([lists[2], lists[0]], sub, strict=True):
        want = match_pairs(HammingIndex(il.codes, il.n_bits), codes, 1)
        assert pairs is not None
        np.testing.assert_array_equal(pairs.row, want.row)


def test_joint_index_goes_with_its_lists() -> None:
    lists = _lists()
    _common.search_many(lists, _requirement(lists), 2)
    del lists
    gc.collect()
    fresh = _lists()
    _common.search_many(fresh, _requirement(fresh), 2)  # prunes joints of dead lists
    for joint in _common._JOINTS:
        assert all(ref() is not None for ref in joint.refs)
    assert len(_common._JOINTS) <= _common.MAX_JOINT_INDEXES


@pytest.mark.parametrize("cls", [WantedCountAssessor, ImportanceListAssessor])
def test_assess_many_equals_assess(cls: type) -> None:
    lists = _lists()
    codes = _requirement(lists)
    w = np.linspace(1.0, 2.0, codes.shape[0])
    many = cls().assess_many(lists, codes, w)
    for il, a in zip(lists, many, strict=True):
        b = cls().assess(il, codes, w)
        assert (a.relevance, a.score, a.rank, a.matched_images, a.estimate) == \
            (b.relevance, b.score, b.rank, b.matched_images, b.estimate)
        assert [m.mean_score for m in a.per_image] == [m.mean_score for m in b.per_image]


def test_widened_radius_still_equals_assess() -> None:
    lists = _lists()
    codes = np.concatenate([_requirement(lists), np.full((2, 4), 0x55, np.uint8)])
    cls = ImportanceListAssessor
    many = cls(no_match="widen", max_radius=6).assess_many(lists, codes)
    for il, a in zip(lists, many, strict=True):
        b = cls(no_match="widen", max_radius=6).assess(il, codes)
        assert (a.relevance, a.score, a.rank) == (b.relevance, b.score, b.rank)
        assert [m.radius_used for m in a.per_image] == [m.radius_used for m in b.per_image]
