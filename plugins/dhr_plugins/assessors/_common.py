"""Helpers the built-in assessors share: weight and code checks, cached Hamming indexes."""

from __future__ import annotations

import threading
import weakref
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from dhr_sdk import (
    Assessment,
    Assessor,
    DhrError,
    HammingIndex,
    ImageMatch,
    ImportanceList,
    MatchPairs,
    Params,
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


class RadiusParams(Params):
    """What every indexed assessor is asked: the Hamming radius of a match."""

    radius: int = Field(2, ge=0, le=256, description="Hamming radius tau: codes with distance "
                        "<= radius match (inclusive).")


class IndexedAssessor(Assessor):
    """An assessor that searches the importance list's codes with an exact Hamming index.

    The index of a list is built once and shared by every indexed assessor of the process
    for as long as the list object lives (``dhr assess`` and ``dhr serve`` run two assessors
    over the same lists); the last search on each list is kept too, so a second assessor
    asking the same question (same codes, same radius) reuses its answer.

    :meth:`assess_many` searches several lists of one bit length with *one* index over all
    their codes (see :func:`search_many`): a search costs a fixed ~0.4 ms of NumPy calls
    whatever the list size, so one search instead of one per collection is most of what a
    resident server saves per request. Subclasses implement :meth:`assess_lists`, which
    computes the answers of all lists at once on their concatenated pairs (:class:`Matches`):
    per-list NumPy calls, not the arithmetic, are most of an assessment's cost.
    """

    params: RadiusParams

    def assess(self, importance: ImportanceList, requirement_codes: np.ndarray,
               weights: np.ndarray | None = None) -> Assessment:
        codes = checked_codes(importance, requirement_codes)
        pairs = self.search(importance, codes, self.params.radius)
        return self.assess_lists([importance], codes, weights, [pairs])[0]

    def assess_many(self, importances: Sequence[ImportanceList],
                    requirement_codes: np.ndarray,
                    weights: np.ndarray | None = None) -> list[Assessment]:
        codes = check_packed(requirement_codes)
        found = search_many(importances, codes, self.params.radius)
        joint = [(il, pairs) for il, pairs in zip(importances, found, strict=True)
                 if pairs is not None]
        answers = iter(self.assess_lists([il for il, _ in joint], codes, weights,
                                         [pairs for _, pairs in joint]) if joint else [])
        return [self.assess(il, codes, weights) if pairs is None else next(answers)
                for il, pairs in zip(importances, found, strict=True)]

    @abstractmethod
    def assess_lists(self, importances: Sequence[ImportanceList], codes: np.ndarray,
                     weights: np.ndarray | None, pairs: Sequence[MatchPairs]
                     ) -> list[Assessment]:
        """:meth:`assess` of each list given ``codes`` (of the lists' bit length) and each
        list's ``pairs`` within the radius. An answer must not depend on the other lists."""

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


@dataclass(frozen=True)
class Matches:
    """The pairs of several lists at once, for computing their answers together.

    Pair ``j`` belongs to list ``owner[j]``; ``key[j]`` numbers its row across the lists
    (``offsets[owner] + row``), so distinct keys are distinct (list, row); ``counts`` and
    ``scores`` are the pair's row's ``N_r`` and ``S_r``. Every per-list quantity is one
    NumPy call over all pairs, keyed by list; pairs keep each list's order, so a list's
    sums add the same numbers in the same order whatever the other lists.
    """

    n_lists: int
    n_queries: int
    owner: np.ndarray
    key: np.ndarray
    pairs: MatchPairs
    counts: np.ndarray
    scores: np.ndarray

    @classmethod
    def of(cls, importances: Sequence[ImportanceList], pairs: Sequence[MatchPairs],
           n_queries: int) -> Matches:
        """The pairs of ``importances`` (at least one list), ``pairs[k]`` list ``k``'s."""
        offsets = np.concatenate([[0], np.cumsum([il.n_codes for il in importances])])
        owner = np.repeat(np.arange(len(importances)), [len(p) for p in pairs])
        joined = MatchPairs(np.concatenate([p.query for p in pairs]),
                            np.concatenate([p.row for p in pairs]),
                            np.concatenate([p.distance for p in pairs]))
        counts = np.concatenate([il.counts[p.row] for il, p in zip(importances, pairs,
                                                                   strict=True)])
        scores = np.concatenate([il.scores[p.row] for il, p in zip(importances, pairs,
                                                                   strict=True)])
        return cls(len(importances), n_queries, owner, offsets[owner] + joined.row, joined,
                   counts.astype(np.float64), scores.astype(np.float64))

    def per_list(self, values: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``values`` per list (``keys``: the owner of each value; default pairs')."""
        return np.bincount(self.owner if keys is None else keys, weights=values,
                           minlength=self.n_lists)

    def per_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(n_lists, n_queries)`` per requirement image of each list: the mean score of
        its matched images (Eq. 1's mean over images), its matched codes and images."""
        shape = (self.n_lists, self.n_queries)
        cell = self.owner * self.n_queries + self.pairs.query
        size = self.n_lists * self.n_queries
        mass = np.bincount(cell, weights=self.counts * self.scores, minlength=size)
        imgs = np.bincount(cell, weights=self.counts, minlength=size)
        means = np.divide(mass, imgs, out=np.zeros(size), where=imgs > 0).reshape(shape)
        m_codes = np.bincount(cell, minlength=size).astype(np.int64).reshape(shape)
        return means, m_codes, np.rint(imgs).astype(np.int64).reshape(shape)

    def distinct(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of one pair per distinct (list, row), by key, and the distinct images
        of each list (each image once)."""
        _, first = np.unique(self.key, return_index=True)
        images = self.per_list(self.counts[first], self.owner[first])
        return first, np.rint(images).astype(np.int64)


def image_matches(weights: np.ndarray, matched_codes: np.ndarray, matched_images: np.ndarray,
                  means: np.ndarray, contributions: np.ndarray,
                  radius_used: np.ndarray | int) -> list[ImageMatch]:
    """One :class:`ImageMatch` per requirement image from per-image arrays (converted to
    Python numbers once per array, not once per element)."""
    radii = np.broadcast_to(np.asarray(radius_used, dtype=np.int64), weights.shape)
    return [ImageMatch(i, w, c, m, s, x, r) for i, (w, c, m, s, x, r) in enumerate(zip(
        weights.tolist(), matched_codes.tolist(), matched_images.tolist(), means.tolist(),
        contributions.tolist(), radii.tolist(), strict=True))]


# ------------------------------------------------------------- one index for many lists

#: Joint indexes kept (most recently used first); a resident server needs one per bit
#: length of its collections.
MAX_JOINT_INDEXES = 4


@dataclass(eq=False)  # found and removed by identity
class _Joint:
    """One index over the codes of several lists, list ``k``'s rows from ``offsets[k]``."""

    refs: list[weakref.ref[ImportanceList]]
    offsets: np.ndarray
    index: HammingIndex
    last: tuple[Any, list[MatchPairs]] | None = None

    def position(self, importance: ImportanceList) -> int | None:
        for k, ref in enumerate(self.refs):
            if ref() is importance:
                return k
        return None


_JOINTS: list[_Joint] = []
_JOINTS_LOCK = threading.Lock()


def _joint_for(lists: list[ImportanceList]) -> _Joint:
    """A joint index holding every list of ``lists`` (a kept one that covers them, else a
    new one over exactly them, kept). Joints of a garbage-collected list are dropped."""
    with _JOINTS_LOCK:
        _JOINTS[:] = [j for j in _JOINTS if all(ref() is not None for ref in j.refs)]
        for j in _JOINTS:
            if all(j.position(il) is not None for il in lists):
                _JOINTS.remove(j)
                _JOINTS.insert(0, j)
                return j
    sizes = [il.n_codes for il in lists]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    codes = np.concatenate([il.codes for il in lists])
    joint = _Joint([weakref.ref(il) for il in lists], offsets,
                   HammingIndex(codes, lists[0].n_bits))
    with _JOINTS_LOCK:
        _JOINTS.insert(0, joint)
        del _JOINTS[MAX_JOINT_INDEXES:]
    return joint


def search_many(importances: Sequence[ImportanceList], codes: np.ndarray,
                radius: int) -> list[MatchPairs | None]:
    """The pairs within ``radius`` of ``codes`` in each list, found with one joint index
    over the lists whose bit length is the codes' (``None`` for the others, and for all
    when fewer than two lists qualify: search those one by one). Equal to searching each
    list alone; the last answer per joint index is reused (two assessors, one request)."""
    bits = codes.shape[1] * 8
    lists = list({id(il): il for il in importances if il.n_bits == bits}.values())
    if len(lists) < 2:
        return [None] * len(importances)
    joint = _joint_for(lists)
    key = (codes.tobytes(), codes.shape, radius)
    last = joint.last
    if last is not None and last[0] == key:
        per_list = last[1]
    else:
        pairs = match_pairs(joint.index, codes, radius)
        owner = np.searchsorted(joint.offsets, pairs.row, side="right") - 1
        order = np.argsort(owner, kind="stable")  # keeps (query, row) order within a list
        bounds = np.searchsorted(owner[order], np.arange(len(joint.refs) + 1))
        per_list = []
        for k in range(len(joint.refs)):
            sel = order[bounds[k]:bounds[k + 1]]
            per_list.append(MatchPairs(pairs.query[sel], pairs.row[sel] - joint.offsets[k],
                                       pairs.distance[sel]))
        joint.last = (key, per_list)
    out: list[MatchPairs | None] = []
    for il in importances:
        at = joint.position(il) if il.n_bits == bits else None
        out.append(None if at is None else per_list[at])
    return out
