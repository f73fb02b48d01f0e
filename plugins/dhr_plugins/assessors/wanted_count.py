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

from functools import lru_cache
from statistics import NormalDist
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from dhr_plugins.assessors._common import (
    IndexedAssessor,
    RadiusParams,
    image_matches,
    normalise_weights,
    per_image_matches,
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

    def assess_matched(self, importance: ImportanceList, codes: np.ndarray,
                       weights: np.ndarray | None, pairs: MatchPairs) -> Assessment:
        p = self.params
        n = codes.shape[0]
        w = normalise_weights(weights, n)
        n_images = self.n_images_of(importance)
        warnings: list[str] = []
        rows, best, second, best_q = row_values(pairs, w / w.max())
        per_row = self._row_unit(importance, rows, warnings)
        count = float(np.dot(per_row, best))
        # jackknife: leaving image i out, the rows it matched best fall to their runner-up
        loss = np.bincount(best_q, weights=per_row * (best - second), minlength=n)
        low, high = self._interval(count, count - loss, n_images, warnings)
        if not len(pairs):
            warnings.append("no requirement image matched the collection: estimate 0")
        means, m_codes, m_images = per_image_matches(importance, pairs, n)
        per_image = image_matches(w, m_codes, m_images, means, loss, p.radius)
        share = count / n_images if n_images else 0.0
        estimate = WantedEstimate(count=count, share=share, low=low, high=high, level=p.level,
                                  matched_images=int(importance.counts[rows].sum()),
                                  n_images=n_images)
        return Assessment(relevance=share, score=count, rank=0, total=n_images,
                          per_image=per_image, warnings=warnings,
                          matched_images=estimate.matched_images, pairs=pairs,
                          estimate=estimate)

    def _row_unit(self, il: ImportanceList, rows: np.ndarray,
                  warnings: list[str]) -> np.ndarray:
        """What each matched row of ``rows`` counts before the requirement weight: its
        images, or its images times their importance relative to the mean image score."""
        counts = il.counts[rows].astype(np.float64)
        if self.params.weighting == "count":
            return counts
        all_counts = il.counts.astype(np.float64)
        mean = float(np.dot(all_counts, il.scores) / max(all_counts.sum(), 1.0))
        if mean <= 0:
            warnings.append("every code has importance 0: weighting='importance' counts "
                            "images instead")
            return counts
        return counts * il.scores[rows] / mean

    def _interval(self, count: float, leave_one_out: np.ndarray, n_images: int,
                  warnings: list[str]) -> tuple[float, float]:
        """``count ± z·SE_jackknife`` clipped to ``[0, n_images]``."""
        n = leave_one_out.size
        if n < 2:
            warnings.append("one requirement image: the interval is unknown (give several "
                            "examples)")
            return 0.0, float(n_images)
        se = float(np.sqrt((n - 1) / n * np.sum((leave_one_out - leave_one_out.mean()) ** 2)))
        z = _z(self.params.level)
        return max(0.0, count - z * se), min(float(n_images), count + z * se)


@lru_cache(maxsize=8)
def _z(level: float) -> float:
    """The normal quantile of a two-sided interval at confidence ``level``."""
    return NormalDist().inv_cdf(0.5 + level / 2)


@hookimpl
def register_assessors(register: Any) -> None:
    register(WantedCountAssessor)
