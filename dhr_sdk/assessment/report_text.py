"""The sentences of the HTML report: one per number, saying what it means (plain text).

Kept apart from the layout so the wording can be read (and tested) on its own; the caller
HTML-escapes every sentence.
"""

from __future__ import annotations

from dhr_sdk.assessment.assess import AssessmentReport, CollectionResult
from dhr_sdk.assessment.requirement import Requirement
from dhr_sdk.core.interfaces import Assessor
from dhr_sdk.core.types import WantedEstimate


def pct(share: float) -> str:
    """``41 %``; one decimal below 10 % so that small shares do not read as 0."""
    v = 100 * share
    return f"{v:.0f} %" if v >= 9.5 or v == 0 else f"{v:.1f} %"


def radius_of(report: AssessmentReport) -> int | None:
    """The Hamming radius τ of the ranking assessor (else the paper's), when it has one."""
    for a in (report.assessor, report.paper_assessor):
        radius = getattr(a.params, "radius", None)
        if radius is not None:
            return int(radius)
    return None


def _within(radius: int | None) -> str:
    return f"within Hamming radius {radius}" if radius is not None else "within the radius"


def group_line(req: Requirement) -> str:
    """``dogs/ 0.7 (20 images), cats/ 0.3 (20 images)``: each argument with its weight."""
    noun = "code" if req.codes is not None else "image"
    return ", ".join(f"{src} {weight:.3g} ({len(idx)} {noun}{'s' if len(idx) != 1 else ''})"
                     for src, weight, idx in req.groups())


def estimate_sentences(e: WantedEstimate, report: AssessmentReport) -> list[str]:
    """What the wanted estimate, its share and its interval say."""
    req = report.requirement
    out = [f"≈{e.count:,.0f} of its {e.n_images:,} images ({pct(e.share)}) match the "
           f"requirement {_within(radius_of(report))}"]
    if len(req.weights) < 2:
        out[0] += ("; with a single example image the interval is unknown (give several "
                   "examples).")
    else:
        out[0] += (f"; with other example images the count would likely lie between "
                   f"{e.low:,.0f} and {e.high:,.0f} ({pct(e.level)} jackknife interval).")
    lightest = float(req.weights.min() / req.weights.max())
    if lightest < 1 - 1e-9:
        out.append(f"Counted by weight: a matched image counts W / max W of the heaviest "
                   f"requirement image it matches, so one matching only the lightest "
                   f"examples counts {lightest:.3g}, not 1.")
    if getattr(report.assessor.params, "weighting", "count") == "importance":
        out.append("Each matched image also counts its importance score relative to the "
                   "collection's mean image score (weighting=importance).")
    return out


def paper_sentences(r: CollectionResult, report: AssessmentReport) -> list[str]:
    """What R(AD), S and k/N say (the paper's assessor, section 3.5)."""
    p = r.paper
    unit = ("images" if getattr(report.paper_assessor.params, "total", "codes") == "images"
            else "distinct codes")
    if p.matched_images == 0:
        rel = (f"R(AD) = {p.relevance:.3f}: no requirement image matched any image of this "
               f"collection {_within(radius_of(report))}, so the requirement has no place "
               "in its importance list.")
    elif p.score <= 0:
        rel = (f"R(AD) = {p.relevance:.3f}: every match is an isolated code (importance 0), "
               "so the requirement sits at the bottom of this collection's importance list.")
    else:
        rel = (f"R(AD) = {p.relevance:.3f}: the requirement's matches sit above "
               f"{pct(p.relevance)} of this collection's importance list — how central the "
               "requirement is inside the collection, not how much of it there is.")
    if getattr(report.paper_assessor.params, "aggregate", "score") == "relevance":
        where = (f"k is N times one minus the weighted mean of the requirement images' own "
                 f"R_i (aggregate=relevance), out of the {p.total:,} {unit} of the list")
    else:
        where = (f"S falls at position {p.rank:,} of the {p.total:,} {unit} of the "
                 "importance list sorted by score")
    return [rel,
            f"S = {p.score:.4g}: the requirement images' weighted mean of the mean importance "
            "score of the images each one matches (Eq. 1).",
            f"k/N = {p.rank:,}/{p.total:,}: {where}, and R(AD) = 1 − k/N."]


def collection_sentences(r: CollectionResult, report: AssessmentReport) -> list[str]:
    """Every number of a collection's row, one sentence each."""
    il = r.target.importance
    e = r.assessment.estimate
    out = estimate_sentences(e, report) if e is not None else []
    out.append(f"{r.matches:,} distinct images lie {_within(radius_of(report))} of at least "
               "one requirement image (each counted once, unweighted).")
    out += paper_sentences(r, report)
    out.append(f"The collection holds {r.target.n_images:,} images under {il.n_codes:,} distinct "
               "hash codes.")
    return out


def ranking_sentence(report: AssessmentReport) -> str:
    """How the table is ordered and where R(AD) comes from."""
    def named(a: Assessor) -> str:
        params = ", ".join(f"{k}={v}" for k, v in a.params.model_dump().items())
        return f"{a.name} ({params})"

    if report.assessor is report.paper_assessor:
        return (f"Collections are ranked by the paper's R(AD) = 1 − k/N, from "
                f"{named(report.assessor)}.")
    return (f"Collections are ranked by {named(report.assessor)}: the estimated number of "
            f"their images that match the requirement. R(AD), the paper's measure of how "
            f"central the requirement is in a collection, comes from "
            f"{named(report.paper_assessor)}.")


PER_IMAGE_LEGEND = (
    "Per requirement image: W is its weight; codes and images are the codes and images of "
    "the collection within the radius of it; mean score is their mean importance; "
    "contribution is W × mean score, its part of S; radius is the radius used. Then its "
    "nearest matched images, with their file names and Hamming distance d.")
