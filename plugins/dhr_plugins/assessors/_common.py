"""Helpers the built-in assessors share: weight and code checks, a cached Hamming index."""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

import numpy as np

from dhr_sdk import (
    Assessor,
    DhrError,
    HammingIndex,
    ImportanceList,
    MatchPairs,
    check_packed,
    check_weights,
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

    Indexes are kept per importance-list object (the last ``MAX_CACHED_INDEXES`` used), so
    one assessor serving many stores (``dhr assess`` over many collections, ``dhr serve``)
    builds each index once.
    """

    MAX_CACHED_INDEXES: ClassVar[int] = 64

    def index_for(self, importance: ImportanceList) -> HammingIndex:
        """The index over ``importance``'s codes, built once per list object and reused."""
        cache: OrderedDict[int, tuple[ImportanceList, HammingIndex]] = self.__dict__.setdefault(
            "_index_cache", OrderedDict())
        hit = cache.get(id(importance))
        if hit is not None and hit[0] is importance:
            cache.move_to_end(id(importance))
            return hit[1]
        index = HammingIndex(importance.codes, importance.n_bits)
        cache[id(importance)] = (importance, index)
        while len(cache) > self.MAX_CACHED_INDEXES:
            cache.popitem(last=False)
        return index


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
