"""Self-contained HTML report of assessments (``dhr assess --report``, ``dhr demo``).

One file with no external resources, the same bytes for the same input. Per requirement:
its groups and images, the warnings, the ranked table (the wanted estimate with its
interval and share when the ranking assessor makes one, the paper's R(AD), S, k/N,
distinct matched images, collection size) and, per collection, one sentence per number,
its top matched images and every requirement image with its own nearest matches.
Collection images are read only from under the collection's recorded root
(:mod:`dhr_sdk.assessment.report_thumbs`); every text is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dhr_sdk.assessment.assess import AssessmentReport, CollectionResult
from dhr_sdk.assessment.report_text import (
    PER_IMAGE_LEGEND,
    collection_sentences,
    group_line,
    pct,
    radius_of,
    ranking_sentence,
)
from dhr_sdk.assessment.report_thumbs import NO_ROOT, OUTSIDE_ROOT, Thumbnails, under_root
from dhr_sdk.assessment.requirement import Requirement

__all__ = ["render_html", "write_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
h3,h4{font-size:1em;margin:.8em 0 .2em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .6em;text-align:left;
vertical-align:middle;border-bottom:1px solid #eee}th{background:#f4f4f4}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure{display:inline-block;margin:2px;text-align:center;font-size:.7em;max-width:96px;
vertical-align:top;overflow-wrap:anywhere}
.th{display:inline-block;background-size:100% 100%;image-rendering:pixelated;
border:1px solid #ccc}
.miss{display:inline-block;width:72px;color:#a60}
.bar{background:#4a7;height:.8em;display:inline-block}
.warn{color:#a60}.legend{font-size:.85em;color:#555}
details{margin:.6em 0;padding:.3em .6em;border:1px solid #ddd;border-radius:4px}
summary{cursor:pointer;font-weight:600}
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _warnings(lines: Sequence[str]) -> str:
    items = "".join(f"<li>{_esc(w)}</li>" for w in lines)
    return f'<ul class="warn">{items}</ul>' if lines else ""


def _requirement_figure(req: Requirement, i: int, thumbs: Thumbnails,
                        weight: bool = True) -> str:
    """Requirement image ``i`` (the user's own file, read wherever it is), captioned with
    its file name and (``weight``) its weight."""
    label = req.label(i)
    caption = [Path(label).name] + ([f"w={req.weights[i]:.3g}"] if weight else [])
    if req.codes is not None:
        return thumbs.figure(None, caption, label, refused="(given as a code)")
    return thumbs.figure(req.paths[i], caption, label)


def _match_figure(r: CollectionResult, match: dict[str, Any], thumbs: Thumbnails) -> str:
    """A matched collection image, read only when it lies under the collection root."""
    image_id = str(match["image_id"])
    root = r.target.root
    return thumbs.figure(under_root(root, image_id), [image_id, f"d={match['distance']}"],
                         image_id, refused=OUTSIDE_ROOT if root else NO_ROOT)


def _requirement(req: Requirement, thumbs: Thumbnails) -> str:
    parts = [f"<p><b>Requirement</b>: {_esc(group_line(req))}.</p>"]
    for src, weight, idx in req.groups():
        figures = "".join(_requirement_figure(req, i, thumbs) for i in idx)
        parts.append(f"<h3>{_esc(src)}: weight {weight:.3g}, {len(idx)} "
                     f"{'code' if req.codes is not None else 'image'}"
                     f"{'s' if len(idx) != 1 else ''}</h3><div>{figures}</div>")
    return "\n".join(parts)


def _table(report: AssessmentReport) -> str:
    """The ranking: one row per collection, in ranked order."""
    estimates = [r.assessment.estimate for r in report.results]
    level = next((e.level for e in estimates if e is not None), None)
    head = ["#", "collection"]
    if level is not None:
        head += ["wanted", f"{pct(level)} interval", "share"]
    head += ["", "R(AD)", "S", "k/N", "matched images", "images"]
    if report.multiple_models:
        head.append("model")
    bars = [e.share if e is not None else r.paper.relevance
            for r, e in zip(report.results, estimates, strict=True)]
    longest = max([*bars, 0.0]) or 1.0
    rows = []
    for i, (r, e, bar) in enumerate(zip(report.results, estimates, bars, strict=True), 1):
        p = r.paper
        nums = [str(i)]
        if level is not None:
            nums += ([f"{e.count:,.0f}", f"{e.low:,.0f}–{e.high:,.0f}", pct(e.share)]
                     if e is not None else ["–"] * 3)
        cells = [f'<td class="num">{c}</td>' for c in nums]
        cells.insert(1, f"<td>{_esc(r.target.name)}</td>")
        width = 100 * max(bar, 0.0) / longest
        cells.append(f'<td><span class="bar" style="width:{width:.0f}px"></span></td>')
        cells += [f'<td class="num">{c}</td>' for c in (
            f"{p.relevance:.3f}", f"{p.score:.4g}", f"{p.rank:,}/{p.total:,}",
            f"{r.matches:,}", f"{r.target.importance.n_images:,}")]
        if report.multiple_models:
            cells.append(f"<td>{_esc(r.target.model_id)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    legend = ("wanted: the estimated number of the collection's images that match the "
              "requirement; interval: where that count would likely lie with other example "
              "images; share: wanted / images; " if level is not None else "")
    legend += ("R(AD): the paper's 1 − k/N, how central the requirement is in the collection; "
               "matched images: distinct images within the radius of any requirement image; "
               "images: the collection's size; the bar: the share (R(AD) without an "
               "estimate), longest for the largest. Open a collection below for what each of "
               "its numbers means.")
    return (f"<table><tr>{header}</tr>{''.join(rows)}</table>"
            f'<p class="legend">{_esc(legend)}</p>')


def _per_image(r: CollectionResult, report: AssessmentReport, thumbs: Thumbnails) -> str:
    """Every requirement image with its numbers in S and its own nearest matches."""
    req = report.requirement
    radius = radius_of(report)
    rows = []
    for m in r.paper.per_image:
        own = r.matched_images(report.top_images, requirement_image=m.index)
        matches = ("".join(_match_figure(r, t, thumbs) for t in own) if own else
                   _esc(f"no image within radius {radius}" if radius is not None
                        else "no matched image"))
        rows.append(
            f"<tr><td>{_requirement_figure(req, m.index, thumbs, weight=False)}</td>"
            f'<td class="num">{m.weight:.3g}</td><td class="num">{m.matched_codes:,}</td>'
            f'<td class="num">{m.matched_images:,}</td><td class="num">{m.mean_score:.4g}</td>'
            f'<td class="num">{m.contribution:.4g}</td><td class="num">{m.radius_used}</td>'
            f"<td>{matches}</td></tr>")
    return (f'<p class="legend">{_esc(PER_IMAGE_LEGEND)}</p><table><tr><th>requirement '
            "image</th><th>W</th><th>codes</th><th>images</th><th>mean score</th>"
            "<th>contribution</th><th>radius</th><th>its nearest matches</th></tr>"
            f"{''.join(rows)}</table>")


def _collection(position: int, r: CollectionResult, report: AssessmentReport,
                thumbs: Thumbnails) -> str:
    """A collection's details: a sentence per number, warnings, top and per-image matches."""
    e = r.assessment.estimate
    summary = (f"{position}. {r.target.name}: "
               + (f"≈{e.count:,.0f} wanted ({pct(e.share)}), " if e is not None else "")
               + f"R(AD) = {r.paper.relevance:.3f}")
    facts = "".join(f"<li>{_esc(s)}</li>" for s in collection_sentences(r, report))
    top = r.matched_images(report.top_images)
    top_html = ("".join(_match_figure(r, t, thumbs) for t in top) if top
                else "<p>No image of this collection matched.</p>")
    return (f"<details><summary>{_esc(summary)}</summary><ul>{facts}</ul>"
            f"{_warnings(r.warnings)}"
            f"<h4>Top {len(top)} matched images (file name, Hamming distance d)</h4>"
            f"<div>{top_html}</div><h4>Per requirement image</h4>"
            f"{_per_image(r, report, thumbs)}</details>")


def _section(title: str, report: AssessmentReport, thumbs: Thumbnails) -> str:
    parts = [f"<section><h2>{_esc(title)}</h2>", _requirement(report.requirement, thumbs),
             _warnings(report.warnings), f"<p>{_esc(ranking_sentence(report))}</p>"]
    if report.multiple_models:
        parts.append('<p class="warn">The stores were encoded with different models; each '
                     "store's own model encoded the requirement, so R(AD) values compare "
                     "positions within each store's own importance list.</p>")
    parts.append(_table(report))
    parts += [_collection(i, r, report, thumbs) for i, r in enumerate(report.results, 1)]
    parts.append("</section>")
    return "\n".join(parts)


def render_html(sections: Sequence[tuple[str, AssessmentReport]],
                title: str = "dhr assessment") -> str:
    """The whole report, one section per ``(title, report)``, as one HTML string."""
    thumbs = Thumbnails()
    body = "\n".join(_section(t, r, thumbs) for t, r in sections)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{_esc(title)}</title>'
            f"<style>{_CSS}{thumbs.stylesheet()}</style></head><body><h1>{_esc(title)}</h1>"
            f"\n{body}\n</body></html>\n")


def write_html(path: str | Path, sections: Sequence[tuple[str, AssessmentReport]],
               title: str = "dhr assessment") -> Path:
    """Write the report to ``path`` (parent folders created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(sections, title), encoding="utf-8")
    return out
