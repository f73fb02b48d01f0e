"""How much wanted data a collection holds: its images that match the requirement.

The paper's R(AD) (``importance-list``) says how *central* a requirement is inside a
collection; a team spending a budget also needs *how much* wanted data each collection
holds. This assessor estimates that amount from the same codes and index:

- **count**: the collection's images whose code lies within Hamming radius τ (inclusive)
  of at least one requirement image, each image counted once. With per-image weights
  ``W_i`` an image counts ``max W_i / max_j W_j`` over the requirement images that match it,
  so "dog 0.7 / cat 0.3" counts a dog-like image 1 and a cat-like image 0.3/0.7 — the
  ground-truth definition of the resource-allocation benchmark;
- **share**: ``count / n_images``;
- **interval** at confidence ``level``: a jackknife over the requirement images (leave one
  out, recount; ``count ± z·SE``, clipped to ``[0, n_images]``). It says how much the
  answer depends on which examples were given. A bootstrap (resampling with replacement)
  is *not* used: a resample holds ~63 % distinct images, and a union count of fewer
  examples is biased low, so its percentile interval often excludes the estimate itself;
- ``weighting="importance"``: each matched image additionally counts its importance score
  relative to the collection's mean image score (isolated codes count 0), the
  importance-weighted variant measured in ``benchmarks/resource_allocation.py``.

The count is what the codes can see: on weak codes it under-counts wanted images the codes
put far from every example and over-counts look-alikes; docs/assessment.md gives the
measured error. Dividing by the requirement's own leave-one-out self-match rate (a recall
estimate) was measured and rejected: false matches dominate on pixel codes, so it
over-counted 2–6× (docs/assessment.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from statistics import NormalDist
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from dhr_plugins.assessors._common import (
    IndexedAssessor,
    Matches,
    RadiusParams,
    image_matches,
    normalise_weights,
)
from dhr_sdk import (
    Assessment,
    ImportanceList,
    MatchPairs,
    WantedEstimate,
    hookimpl,
    row_values,
)


class WantedCountParams(RadiusParams):
    radius: int = Field(2, ge=0, le=256, description="Hamming radius tau: images whose code "
                        "is within this distance of a requirement image match (inclusive).")
    weighting: Literal["count", "importance"] = Field(
        "count", description="'count': each matched image counts once (weighted by its "
        "requirement image's relative weight); 'importance': also by its importance score "
        "relative to the collection's mean.")
    level: float = Field(0.9, gt=0.0, lt=1.0, description="Confidence level of the "
                         "jackknife interval over the requirement images.")


class WantedCountAssessor(IndexedAssessor):
    """Estimated number and share of a collection's images that match the requirement."""

    name: ClassVar[str] = "wanted-count"
    Params = WantedCountParams
    summary: ClassVar[str] = ("How many of the collection's images match the requirement "
                              "(each once), with an interval")
    params: WantedCountParams

    def assess_lists(self, importances: Sequence[ImportanceList], codes: np.ndarray,
                     weights: np.ndarray | None, pairs: Sequence[MatchPairs]
                     ) -> list[Assessment]:
        p = self.params
        n = codes.shape[0]
        w = normalise_weights(weights, n)
        m = Matches.of(importances, pairs, n)
        keyed = MatchPairs(m.pairs.query, m.key, m.pairs.distance)
        _, best, second, best_q = row_values(keyed, w / w.max())  # rows ascending by key
        first, matched = m.distinct()  # one pair per distinct key, keys ascending
        owner = m.owner[first]
        per_row, flat = self._row_unit(importances, m, first, owner)
        count = m.per_list(per_row * best, owner)
        # jackknife: leaving image i out, the rows it matched best fall to their runner-up
        loss = np.bincount(owner * n + best_q, weights=per_row * (best - second),
                           minlength=m.n_lists * n).reshape(m.n_lists, n)
        n_images = np.array([self.n_images_of(il) for il in importances], dtype=np.int64)
        low, high = self._interval(count, count[:, None] - loss, n_images)
        means, m_codes, m_images = m.per_image()
        out = []
        for k in range(m.n_lists):
            warnings: list[str] = []
            if flat[k]:
                warnings.append("every code has importance 0: weighting='importance' counts "
                                "images instead")
            if n < 2:
                warnings.append("one requirement image: the interval is unknown (give "
                                "several examples)")
            if not len(pairs[k]):
                warnings.append("no requirement image matched the collection: estimate 0")
            c, total = float(count[k]), int(n_images[k])
            share = c / total if total else 0.0
            estimate = WantedEstimate(count=c, share=share, low=float(low[k]),
                                      high=float(high[k]), level=p.level,
                                      matched_images=int(matched[k]), n_images=total)
            out.append(Assessment(
                relevance=share, score=c, rank=0, total=total,
                per_image=image_matches(w, m_codes[k], m_images[k], means[k], loss[k],
                                        p.radius),
                warnings=warnings, matched_images=estimate.matched_images, pairs=pairs[k],
                estimate=estimate))
        return out

    def _row_unit(self, importances: Sequence[ImportanceList], m: Matches, first: np.ndarray,
                  owner: np.ndarray) -> tuple[np.ndarray, list[bool]]:
        """What each distinct matched row counts before the requirement weight: its images,
        or its images times their importance relative to its list's mean image score; and
        per list whether that mean is 0 (then images are counted)."""
        counts = m.counts[first]
        if self.params.weighting == "count":
            return counts, [False] * m.n_lists
        mean = np.array([float(np.dot(il.counts.astype(np.float64), il.scores) /
                               max(float(il.counts.sum()), 1.0)) for il in importances])
        flat = mean <= 0
        unit = np.where(flat[owner], counts,
                        counts * m.scores[first] / np.where(flat, 1.0, mean)[owner])
        return unit, flat.tolist()

    def _interval(self, count: np.ndarray, leave_one_out: np.ndarray, n_images: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """``count ± z·SE_jackknife`` per list, clipped to ``[0, n_images]`` (``[0, n]``
        with one requirement image: unknown)."""
        n = leave_one_out.shape[1]
        if n < 2:
            return np.zeros(count.shape), n_images.astype(np.float64)
        dev = leave_one_out - leave_one_out.mean(axis=1, keepdims=True)
        se = np.sqrt((n - 1) / n * np.sum(dev ** 2, axis=1))
        z = _z(self.params.level)
        return np.maximum(0.0, count - z * se), np.minimum(n_images.astype(np.float64),
                                                            count + z * se)


@lru_cache(maxsize=8)
def _z(level: float) -> float:
    """The normal quantile of a two-sided interval at confidence ``level``."""
    return NormalDist().inv_cdf(0.5 + level / 2)


@hookimpl
def register_assessors(register: Any) -> None:
    register(WantedCountAssessor)
