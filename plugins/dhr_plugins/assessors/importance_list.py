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
renormalise the other weights. If no requirement image matches at all, ``S(q) = 0`` and
``R = 0`` by definition (deviation: the literal rule would rank 0 among isolated, zero-score
codes and give such a collection a positive R).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from dhr_sdk import hookimpl
from dhr_sdk.codes import check_packed
from dhr_sdk.errors import DhrError
from dhr_sdk.hamming_index import HammingIndex
from dhr_sdk.interfaces import Assessor
from dhr_sdk.params import Params
from dhr_sdk.types import Assessment, ImageMatch, ImportanceList

TIE_RTOL = 1e-9


class ImportanceListParams(Params):
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
    top_matches: int = Field(5, ge=0, le=1000, description="Matched rows kept per requirement "
                             "image for explanations (nearest first, then highest score).")


def normalise_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Per-image weights W_i summing to 1 (equal when ``None``); one-line error when invalid."""
    if n == 0:
        raise DhrError("the requirement has no images")
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise DhrError(f"got {w.shape[0]} weights for {n} requirement images")
    if not np.isfinite(w).all() or (w < 0).any():
        raise DhrError("requirement weights must be finite and non-negative")
    if w.sum() <= 0:
        raise DhrError("requirement weights must not all be zero")
    return w / w.sum()


class ImportanceListAssessor(Assessor):
    """R(AD) from the importance list by Eq. (1), with an exact Hamming index over its codes."""

    name: ClassVar[str] = "importance-list"
    Params = ImportanceListParams
    summary: ClassVar[str] = "Eq. (1) score of the requirement located in the importance list"
    params: ImportanceListParams

    def index_for(self, importance: ImportanceList) -> HammingIndex:
        """The index over ``importance``'s codes, built once per list object and reused."""
        cached = getattr(self, "_index_cache", None)
        if cached is not None and cached[0] is importance:
            return cached[1]
        index = HammingIndex(importance.codes, importance.n_bits)
        self._index_cache = (importance, index)
        return index

    def assess(self, importance: ImportanceList, requirement_codes: np.ndarray,
               weights: np.ndarray | None = None) -> Assessment:
        p = self.params
        codes = check_packed(requirement_codes)
        if codes.shape[1] * 8 != importance.n_bits:
            raise DhrError(f"requirement codes have {codes.shape[1] * 8} bits but the importance "
                           f"list has {importance.n_bits}")
        n = codes.shape[0]
        w = normalise_weights(weights, n)
        total = importance.n_codes if p.total == "codes" else importance.n_images
        if total == 0:
            raise DhrError("the importance list is empty")
        means, m_codes, m_images, radius_used, tops = self._match(importance, codes)
        matched = m_images > 0
        warnings = [f"requirement image {i} matched no code within radius "
                    f"{int(radius_used[i])}" for i in np.flatnonzero(~matched)]
        if p.no_match == "drop" and matched.any():
            w = np.where(matched, w, 0.0)
            w = w / w.sum()
        contributions = w * means
        if not matched.any():
            score, k = 0.0, total
            warnings.append("no requirement image matched the collection: R = 0")
        elif p.aggregate == "relevance":
            score = float(contributions.sum())
            r_i = np.where(matched, 1.0 - self._locate(importance, means, total) / total, 0.0)
            k = round(total * (1.0 - float(np.dot(w, r_i))))
        else:
            score = float(contributions.sum())
            k = int(self._locate(importance, np.array([score]), total)[0])
        per_image = [
            ImageMatch(index=i, weight=float(w[i]), matched_codes=int(m_codes[i]),
                       matched_images=int(m_images[i]), mean_score=float(means[i]),
                       contribution=float(contributions[i]), radius_used=int(radius_used[i]),
                       top_rows=tops[i])
            for i in range(n)]
        return Assessment(relevance=1.0 - k / total, score=score, rank=k, total=total,
                          per_image=per_image, warnings=warnings)

    def _match(self, il: ImportanceList, codes: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[list[int]]]:
        """Per requirement image: mean matched score, #codes, #images, radius, top rows."""
        p = self.params
        n = codes.shape[0]
        means = np.zeros(n)
        m_codes = np.zeros(n, dtype=np.int64)
        m_images = np.zeros(n, dtype=np.int64)
        radius_used = np.full(n, p.radius, dtype=np.int64)
        tops: list[list[int]] = [[] for _ in range(n)]
        todo = np.arange(n)
        radius = p.radius
        index = self.index_for(il)
        while todo.size:
            lims, ids, dists = index.radius_search(codes[todo], radius)
            lims = np.asarray(lims, dtype=np.int64)
            ids = np.asarray(ids, dtype=np.int64)
            sizes = np.diff(lims)
            owner = np.repeat(np.arange(todo.size), sizes)
            cnt = il.counts[ids].astype(np.float64)
            mass = np.bincount(owner, weights=cnt * il.scores[ids], minlength=todo.size)
            imgs = np.bincount(owner, weights=cnt, minlength=todo.size)
            hit = imgs > 0
            means[todo[hit]] = mass[hit] / imgs[hit]
            m_codes[todo] = sizes
            m_images[todo] = np.rint(imgs).astype(np.int64)
            radius_used[todo] = radius
            if p.top_matches and ids.size:
                order = np.lexsort((ids, -il.scores[ids], np.asarray(dists), owner))
                for j in np.flatnonzero(hit):
                    seg = order[lims[j]:min(lims[j + 1], lims[j] + p.top_matches)]
                    tops[int(todo[j])] = ids[seg].tolist()
            todo = todo[~hit]
            if p.no_match != "widen" or radius >= min(p.max_radius, il.n_bits):
                break
            radius += 1
        return means, m_codes, m_images, radius_used, tops

    def _locate(self, il: ImportanceList, scores: np.ndarray, total: int) -> np.ndarray:
        """k = 1 + (number of list entries scoring strictly above each score), capped at N."""
        threshold = scores + TIE_RTOL * np.abs(scores)
        above = np.searchsorted(-il.scores, -threshold, side="left")
        if self.params.total == "images":
            above = np.concatenate([[0], np.cumsum(il.counts)])[above]
        return np.minimum(above + 1, total).astype(np.int64)


@hookimpl
def register_assessors(register: Any) -> None:
    register(ImportanceListAssessor)
