"""Helpers the built-in assessors share: weight and code checks, a cached Hamming index."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from dhr_sdk import (
    Assessor,
    DhrError,
    HammingIndex,
    ImportanceList,
    MatchPairs,
    check_packed,
    check_weights,
    match_pairs,
)


def normalise_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Per-image weights W_i summing to 1 (equal when ``None``); one-line error when invalid."""
    if n == 0:
        raise DhrError("the requirement has no images")
    w = check_weights(weights, n)
    return w / w.sum()


def checked_codes(importance: ImportanceList, requirement_codes: np.ndarray) -> np.ndarray:
    """The requirement's packed codes, refused in one line when their length differs."""
    codes = check_packed(requirement_codes)
    if codes.shape[1] * 8 != importance.n_bits:
        raise DhrError(f"requirement codes have {codes.shape[1] * 8} bits but the importance "
                       f"list has {importance.n_bits}")
    return codes


class IndexedAssessor(Assessor):
    """An assessor that searches the importance list's codes with an exact Hamming index.

    The index of a list is built once and shared by every indexed assessor of the process
    for as long as the list object lives (``dhr assess`` and ``dhr serve`` run two assessors
    over the same lists); the last search on each list is kept too, so a second assessor
    asking the same question (same codes, same radius) reuses its answer.
    """

    def index_for(self, importance: ImportanceList) -> HammingIndex:
        """The index over ``importance``'s codes, built once per list object and reused."""
        return _entry(importance).index

    def n_images_of(self, importance: ImportanceList) -> int:
        """``importance.n_images``, summed once per list object."""
        entry = _entry(importance)
        if entry.n_images is None:
            entry.n_images = importance.n_images
        return entry.n_images

    def search(self, importance: ImportanceList, codes: np.ndarray, radius: int,
               queries: np.ndarray | None = None) -> MatchPairs:
        """:func:`match_pairs` on ``importance``'s index, the last answer per list reused."""
        entry = _entry(importance)
        key = (codes.tobytes(), codes.shape, radius,
               None if queries is None else np.asarray(queries).tobytes())
        last = entry.last
        if last is not None and last[0] == key:
            return last[1]
        pairs = match_pairs(entry.index, codes, radius, queries=queries)
        entry.last = (key, pairs)
        return pairs


@dataclass
class _Entry:
    index: HammingIndex
    last: tuple[Any, MatchPairs] | None = None
    n_images: int | None = None


#: id(list) -> (weak reference to the list, its index and last search); an entry goes when
#: its list is garbage-collected.
_ENTRIES: dict[int, tuple[weakref.ref[ImportanceList], _Entry]] = {}


def _entry(importance: ImportanceList) -> _Entry:
    key = id(importance)
    hit = _ENTRIES.get(key)
    if hit is not None and hit[0]() is importance:
        return hit[1]
    entry = _Entry(HammingIndex(importance.codes, importance.n_bits))

    def gone(ref: weakref.ref[ImportanceList]) -> None:
        if _ENTRIES.get(key, (None,))[0] is ref:
            del _ENTRIES[key]

    _ENTRIES[key] = (weakref.ref(importance, gone), entry)
    return entry


def per_image_matches(il: ImportanceList, pairs: MatchPairs, n: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per requirement image: the mean score of its matched images (Eq. 1's mean over
    images), its matched codes and its matched images."""
    cnt = il.counts[pairs.row].astype(np.float64)
    mass = np.bincount(pairs.query, weights=cnt * il.scores[pairs.row], minlength=n)
    imgs = np.bincount(pairs.query, weights=cnt, minlength=n)
    means = np.divide(mass, imgs, out=np.zeros(n), where=imgs > 0)
    m_codes = np.bincount(pairs.query, minlength=n).astype(np.int64)
    return means, m_codes, np.rint(imgs).astype(np.int64)
