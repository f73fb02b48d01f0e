"""The on-line assessment of the framework paper (section 3.5, Eq. 1): R(AD) = 1 - k / N.

For requirement image ``I_i`` with hash code ``h_i``, the matched set is every row ``r`` of
the importance list with ``HD(h_i, H_r) <= tau`` (inclusive). Each row stands for ``N_r``
images that all carry the score ``S_r``, so the paper's per-image mean
``(1/m_i) sum_j S_j(I_i)`` over the ``m_i`` matched *images* is
``sum_r N_r S_r / sum_r N_r`` (the paper's Tencent1M example averages two images sharing
one code this way). ``S(q) = sum_i W_i * mean_i`` with ``W`` normalised to sum 1.

``k`` locates ``S(q)`` in the descending scores ``S_1 >= ... >= S_N``: the paper's
``S_k <= S(q) < S_{k-1}`` with ``S_0 = +inf``, i.e. ``k = 1 + #{j : S_j > S(q)}``. Hence
``S(q) >= S_1`` gives ``k = 1`` (R = 1 - 1/N), a tie with ``S_j`` gives the first tied row,
and ``S(q)`` below every score (where the paper's condition has no solution) gives
``k = N`` (R = 0). "Greater" uses a relative tolerance of 1e-9 so that a requirement
matching a single row (mean = that row's score up to rounding) ties with it.

``N`` is the number of rows (distinct codes, the paper's importance list) by default;
``total="images"`` ranks against the image-level list instead (each row's score repeated
``N_r`` times).

No-match policy (``m_i = 0``; the paper divides by zero here), param ``no_match``:
``zero`` (default) — the image contributes 0 and a warning names it: the collection lacks
what the image shows, which should lower its relevance; ``widen`` — retry with radius
``tau + 1, ...`` up to ``max_radius``, then 0; ``drop`` — leave the image out and
renormalise the other weights.

Zero scores (decision; the paper is silent): if no requirement image matches at all, or
every match is a code of importance 0 (isolated codes: CPR/SHR give them 0), ``S(q) = 0``
and ``R = 0``, with a warning. The literal rule would place ``S = 0`` at the first of the
tied zero-score rows, so R would equal the share of the list's non-isolated codes (about
0.26 on a 64-bit store measured in issue 20) — a number about the collection, not about
the requirement.

``matched_images`` counts the distinct images within the radius of any requirement image
(each image once), not the sum of the per-image ``m_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    DhrError,
    ImportanceList,
    MatchPairs,
    concat_pairs,
    hookimpl,
)

TIE_RTOL = 1e-9


class ImportanceListParams(RadiusParams):
    radius: int = Field(2, ge=0, le=256, description="Hamming radius tau: codes with distance "
                        "<= radius match (inclusive; the paper uses 2).")
    no_match: Literal["zero", "widen", "drop"] = Field(
        "zero", description="Requirement image with no match within radius: 'zero' scores it "
        "0, 'widen' retries radius+1.. up to max_radius, 'drop' removes it and renormalises "
        "the weights.")
    max_radius: int = Field(4, ge=0, le=256, description="Largest radius tried by "
                            "no_match='widen'.")
    total: Literal["codes", "images"] = Field(
        "codes", description="N in R = 1 - k/N: rows of the importance list (distinct codes, "
        "paper default) or images.")
    aggregate: Literal["score", "relevance"] = Field(
        "score", description="'score': R of S(q) from Eq. (1) (paper section 3.5); "
        "'relevance': mean of per-image R_i weighted by W_i (the protocol of section 6.3, "
        "which averages the assessment over the AD images).")


class ImportanceListAssessor(IndexedAssessor):
    """R(AD) from the importance list by Eq. (1), with an exact Hamming index over its codes."""

    name: ClassVar[str] = "importance-list"
    Params = ImportanceListParams
    summary: ClassVar[str] = "The paper's R(AD): Eq. (1) score located in the importance list"
    params: ImportanceListParams

    def assess_lists(self, importances: Sequence[ImportanceList], codes: np.ndarray,
                     weights: np.ndarray | None, pairs: Sequence[MatchPairs]
                     ) -> list[Assessment]:
        p = self.params
        n = codes.shape[0]
        w0 = normalise_weights(weights, n)
        totals = [il.n_codes if p.total == "codes" else il.n_images for il in importances]
        if 0 in totals:
            raise DhrError("the importance list is empty")
        widened = [self._widen(il, codes, found) for il, found in
                   zip(importances, pairs, strict=True)]
        m = Matches.of(importances, [pw for pw, _ in widened], n)
        means, m_codes, m_images = m.per_image()
        matched = m_images > 0
        w = np.tile(w0, (m.n_lists, 1))
        drop = matched.any(axis=1) if p.no_match == "drop" else np.zeros(m.n_lists, bool)
        if drop.any():
            kept = np.where(matched[drop], w0, 0.0)
            w[drop] = kept / kept.sum(axis=1, keepdims=True)
        contributions = w * means
        scores = contributions.sum(axis=1)
        _, distinct = m.distinct()
        out = []
        for i, (il, total) in enumerate(zip(importances, totals, strict=True)):
            warnings: list[str] = []
            score = float(scores[i])
            if not matched[i].any():
                score, k = 0.0, total
                warnings.append("no requirement image matched the collection: R = 0")
            elif score <= 0.0:
                k = total
                warnings.append("every matched code has importance 0 (isolated codes): R = 0")
            elif p.aggregate == "relevance":
                located = self._locate(il, means[i], total)
                r_i = np.where(matched[i] & (means[i] > 0), 1.0 - located / total, 0.0)
                k = round(total * (1.0 - float(np.dot(w[i], r_i))))
            else:
                k = int(self._locate(il, np.array([score]), total)[0])
            out.append(Assessment(
                relevance=1.0 - k / total, score=score, rank=k, total=total,
                per_image=image_matches(w[i], m_codes[i], m_images[i], means[i],
                                        contributions[i], widened[i][1]),
                warnings=warnings, matched_images=int(distinct[i]), pairs=widened[i][0]))
        return out

    def _widen(self, il: ImportanceList, codes: np.ndarray, found: MatchPairs
               ) -> tuple[MatchPairs, np.ndarray]:
        """The pairs ``found`` within the radius, widened per unmatched image if asked
        (``no_match='widen'``), and each image's radius."""
        p = self.params
        n = codes.shape[0]
        radius_used = np.full(n, p.radius, dtype=np.int64)
        if p.no_match != "widen":
            return found, radius_used
        parts = [found]
        radius = p.radius
        todo = np.setdiff1d(np.arange(n), found.query)
        while todo.size and radius < min(p.max_radius, il.n_bits):
            radius += 1
            found = self.search(il, codes[todo], radius, queries=todo)
            parts.append(found)
            radius_used[todo] = radius
            todo = np.setdiff1d(todo, found.query)
        return concat_pairs(parts), radius_used

    def _locate(self, il: ImportanceList, scores: np.ndarray, total: int) -> np.ndarray:
        """k = 1 + (number of list entries scoring strictly above each score), capped at N."""
        threshold = scores + TIE_RTOL * np.abs(scores)
        # entries strictly above: searched in the ascending view (no negated copy of S)
        above = il.n_codes - np.searchsorted(il.scores[::-1], threshold, side="right")
        if self.params.total == "images":
            above = np.concatenate([[0], np.cumsum(il.counts)])[above]
        return np.minimum(above + 1, total).astype(np.int64)


@hookimpl
def register_assessors(register: Any) -> None:
    register(ImportanceListAssessor)
