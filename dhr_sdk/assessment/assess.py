"""On-line assessment: one requirement against many stores, ranked by the wanted amount.

Every store must hold a model (unless the requirement is given as codes), codes and an
importance list (``dhr rank``). Each store's *own* model encodes the requirement (stores
sharing a model share the encoding). Two assessor plugins then read each store: the
*ranking* assessor (default ``wanted-count``: how many of the collection's images match)
orders the collections, and the paper's ``importance-list`` assessor gives R(AD) beside it
(docs/assessment.md says why the default ranks by the amount, with the numbers). Stores
are only read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.assessment.requirement import Requirement
from dhr_sdk.assessment.targets import StoreTarget, encode_requirement, open_target
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Assessor
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.core.types import Assessment

__all__ = ["DEFAULT_ASSESSOR", "PAPER_ASSESSOR", "AssessmentReport", "CollectionResult",
           "assess", "assess_targets", "make_assessor", "paper_assessor_for"]

#: The assessor that orders the collections unless told otherwise (measured best:
#: docs/results/assessment-calibration.md) and the paper's, always reported beside it.
DEFAULT_ASSESSOR = "wanted-count"
PAPER_ASSESSOR = "importance-list"
#: Requirement images named per warning line before "and N more".
NAMED_IN_WARNING = 3


@dataclass
class CollectionResult:
    """One store's answer: the ranking assessor's ``assessment``, the paper's R(AD) in
    ``paper`` (the same object when the ranking assessor is the paper's), and warnings
    that name requirement files."""

    target: StoreTarget
    assessment: Assessment
    paper: Assessment
    requirement_codes: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def matches(self) -> int:
        """Distinct images of the collection within the radius of any requirement image."""
        return self.assessment.matched_images

    def matched_images(self, limit: int | None = None, requirement_image: int | None = None
                       ) -> list[dict[str, Any]]:
        """The collection's matched images, nearest first, then higher importance score.

        Each image appears once, with its nearest requirement image and its ``index`` in the
        store; ``requirement_image`` restricts to the matches of that one requirement image.
        ``limit=None``: all.
        """
        il = self.target.importance
        pairs = self.assessment.pairs
        if requirement_image is not None:
            keep = pairs.query == requirement_image
            rows, dist, query = pairs.row[keep], pairs.distance[keep], pairs.query[keep]
        else:
            rows, dist, query = pairs.nearest()
        order = np.lexsort((rows, -il.scores[rows], dist))
        root = str(Path(self.target.root))  # joined as text: one Path per image is slow
        out: list[dict[str, Any]] = []
        for j in order:
            row = int(rows[j])
            for image in il.images_of(row).tolist():
                if limit is not None and len(out) >= limit:
                    return out
                image_id = self.target.image_ids[image]
                out.append({"image_id": image_id,
                            "path": image_id if root == "." else os.path.join(root, image_id),
                            "index": image, "row": row, "score": float(il.scores[row]),
                            "distance": int(dist[j]), "requirement_image": int(query[j]),
                            "images_with_code": int(il.counts[row])})
        return out


@dataclass
class AssessmentReport:
    """A requirement assessed against several stores, ``results`` in ranked order."""

    requirement: Requirement
    results: list[CollectionResult]
    assessor: Assessor
    paper_assessor: Assessor
    top_images: int = 6
    warnings: list[str] = field(default_factory=list)

    @property
    def models(self) -> dict[str, list[CollectionResult]]:
        groups: dict[str, list[CollectionResult]] = {}
        for r in self.results:
            groups.setdefault(r.target.model_id, []).append(r)
        return groups

    @property
    def multiple_models(self) -> bool:
        return len(self.models) > 1

    def to_json(self) -> dict[str, Any]:
        """The ``dhr assess --json`` contract (docs/assessment.md)."""
        req = self.requirement
        return {
            "requirement": [{"path": str(p), "weight": round(float(w), 6), "source": s}
                            for p, w, s in zip(req.paths, req.weights, req.sources, strict=True)],
            "requirement_groups": [{"source": s, "weight": round(w, 6), "images": len(idx)}
                                   for s, w, idx in req.groups()],
            "skipped": [{"path": str(p), "reason": why} for p, why in req.skipped],
            "assessor": _assessor_json(self.assessor),
            "paper_assessor": _assessor_json(self.paper_assessor),
            "ranked_by": self.assessor.name,
            "models": [_model_json(mid, rs) for mid, rs in self.models.items()],
            "multiple_models": self.multiple_models,
            "warnings": list(self.warnings),
            "results": [_result_json(i + 1, r, req, self.top_images)
                        for i, r in enumerate(self.results)],
        }


def _assessor_json(a: Assessor) -> dict[str, Any]:
    return {"name": a.name, "params": a.params.model_dump(mode="json")}


def _model_json(model_id: str, results: list[CollectionResult]) -> dict[str, Any]:
    rec = results[0].target.model_record
    return {"id": model_id, "hasher": rec.hasher if rec else None,
            "n_bits": rec.n_bits if rec else results[0].target.importance.n_bits,
            "backbone": rec.backbone if rec else None,
            "stores": [str(r.target.path) for r in results]}


def _estimate_json(a: Assessment) -> dict[str, Any] | None:
    e = a.estimate
    if e is None:
        return None
    return {"count": e.count, "share": e.share, "low": e.low, "high": e.high,
            "level": e.level, "matched_images": e.matched_images, "n_images": e.n_images}


def _result_json(position: int, r: CollectionResult, req: Requirement,
                 top: int) -> dict[str, Any]:
    a, paper = r.assessment, r.paper
    return {
        "position": position, "collection": r.target.name, "store": str(r.target.path),
        "n_images": r.target.n_images, "estimate": _estimate_json(a),
        "relevance": paper.relevance, "score": paper.score, "k": paper.rank, "n": paper.total,
        "matches": r.matches, "model_id": r.target.model_id, "warnings": list(r.warnings),
        "per_image": [{"path": req.label(m.index), "weight": round(m.weight, 6),
                       "matched_codes": m.matched_codes, "matched_images": m.matched_images,
                       "mean_score": m.mean_score, "contribution": m.contribution,
                       "radius_used": m.radius_used} for m in paper.per_image],
        "top_images": [{**t, "requirement_image": req.label(t["requirement_image"])}
                       for t in r.matched_images(top)],
    }


def make_assessor(name: str = DEFAULT_ASSESSOR,
                  params: dict[str, Any] | None = None) -> Assessor:
    """Assessor plugin ``name`` with validated ``params``."""
    return get_registry().create("assessor", name, params or {})


def paper_assessor_for(assessor: Assessor) -> Assessor:
    """The paper's assessor to report R(AD) beside ``assessor``: the same object when it is
    the paper's, else ``importance-list`` at the same radius (when it has one)."""
    if assessor.name == PAPER_ASSESSOR:
        return assessor
    radius = getattr(assessor.params, "radius", None)
    return make_assessor(PAPER_ASSESSOR, {} if radius is None else {"radius": radius})


def _named(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:NAMED_IN_WARNING])
    more = len(labels) - NAMED_IN_WARNING
    return shown + (f" and {more} more" if more > 0 else "")


def _collection_warnings(target: StoreTarget, a: Assessment, paper: Assessment,
                         req: Requirement) -> list[str]:
    """The assessors' own warnings plus one line naming unmatched requirement files."""
    unmatched = [req.label(m.index) for m in paper.per_image if m.matched_images == 0]
    out = []
    if unmatched and len(unmatched) < len(req.paths):
        radius = paper.per_image[0].radius_used if paper.per_image else 0
        out.append(f"{len(unmatched)} of {len(req.paths)} requirement images matched nothing "
                   f"within radius {radius}: {_named(unmatched)}")
    for w in [*a.warnings, *(paper.warnings if paper is not a else [])]:
        if w not in out:
            out.append(w)
    return out


def _report_warnings(results: Sequence[CollectionResult], req: Requirement,
                     radius: int | None) -> list[str]:
    """Requirement-wide advice: files skipped, and images the codes cannot place anywhere."""
    out = [f"skipped unreadable requirement file {p}: {why}" for p, why in req.skipped]
    n = len(req.paths)
    nowhere = [i for i in range(n)
               if all(r.paper.per_image[i].matched_images == 0 for r in results)]
    if results and len(nowhere) * 2 > n:
        bits = results[0].target.importance.n_bits
        tau = f"τ={radius}" if radius is not None else "the radius"
        out.append(f"{len(nowhere)} of {n} requirement images match no image of any "
                   f"collection within {tau} of their {bits}-bit codes, so the answer rests "
                   f"on few matches: use a larger radius (-p radius={(radius or 0) + 1}) or a "
                   "model with fewer bits (e.g. -p n_bits=32)")
    return out


def assess(requirement: Requirement, stores: Sequence[str | Path],
           assessor: Assessor | None = None, *, paper: Assessor | None = None,
           top_images: int = 6, progress: Progress = QUIET) -> AssessmentReport:
    """Assess ``requirement`` against every store and rank the stores.

    ``assessor`` (default ``wanted-count``) orders the stores by its ranking value (the
    estimated wanted count, or R for the paper's assessor); ``paper`` (default: the paper's
    ``importance-list`` at the same radius) gives R(AD) beside it. All stores are
    validated first (a bad store fails before any work); each distinct model encodes the
    requirement once. Nothing is written to the stores.
    """
    if not stores:
        raise DhrError("give at least one store to assess")
    targets = [open_target(s, need_model=requirement.codes is None) for s in stores]
    return assess_targets(requirement, targets, assessor, paper=paper, top_images=top_images,
                          codes_by_model=encode_requirement(requirement, targets, progress),
                          progress=progress)


def assess_targets(requirement: Requirement, targets: Sequence[StoreTarget],
                   assessor: Assessor | None = None, *, paper: Assessor | None = None,
                   top_images: int = 6, codes_by_model: dict[str, np.ndarray],
                   progress: Progress = QUIET) -> AssessmentReport:
    """:func:`assess` on stores already opened, with the requirement already encoded per
    model id (a resident server keeps targets, models and assessors' indexes loaded). The
    stores of one model are assessed together (``Assessor.assess_many``)."""
    if top_images < 0:
        raise DhrError("--top must be >= 0")
    assessor = assessor or make_assessor()
    paper = paper or paper_assessor_for(assessor)
    by_model: dict[str, list[StoreTarget]] = {}
    for t in targets:
        by_model.setdefault(t.model_id, []).append(t)
    results = []
    for model_id, group in progress.iterate(list(by_model.items()), desc="assess",
                                            unit="model"):
        codes, lists = codes_by_model[model_id], [t.importance for t in group]
        found = assessor.assess_many(lists, codes, requirement.weights)
        papers = found if paper is assessor else \
            paper.assess_many(lists, codes, requirement.weights)
        for t, a, p in zip(group, found, papers, strict=True):
            results.append(CollectionResult(t, a, p, codes,
                                            _collection_warnings(t, a, p, requirement)))
    results.sort(key=lambda r: (-r.assessment.ranking_value(), -r.paper.relevance,
                                r.target.name))
    radius = getattr(paper.params, "radius", None)
    return AssessmentReport(requirement, results, assessor, paper, top_images,
                            _report_warnings(results, requirement, radius))
