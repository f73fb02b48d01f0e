"""Self-contained HTML report of assessments: thumbnails inlined as base64 PNG.

One file, no external resources: per requirement, its images (with weights), the ranking of
the collections (R, S, k/N, matches) and, per collection, the best matched images.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from dhr_sdk.assessment import AssessmentReport, CollectionResult
from dhr_sdk.data.images import UnreadableImage, load_rgb

THUMB = 72
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .6em;text-align:left;
vertical-align:middle;border-bottom:1px solid #eee}th{background:#f4f4f4}
.num{text-align:right;font-variant-numeric:tabular-nums}
.thumbs img{margin:2px;border:1px solid #ccc;image-rendering:pixelated}
figure{display:inline-block;margin:2px;text-align:center;font-size:.75em}
.bar{background:#4a7;height:.8em;display:inline-block}.warn{color:#a60;font-size:.85em}
"""


def thumbnail_uri(path: str | Path, size: int = THUMB) -> str | None:
    """A ``data:`` URI of a PNG thumbnail (small images are scaled up, pixel-exact)."""
    try:
        img = load_rgb(path)
    except UnreadableImage:
        return None
    scale = size / max(img.size)
    new = (max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    buf = io.BytesIO()
    img.resize(new, resample).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(path: str | Path, caption: str) -> str:
    uri = thumbnail_uri(path)
    body = (f'<img src="{uri}" alt="{html.escape(str(path))}">' if uri
            else '<span class="warn">(image not readable)</span>')
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _section(title: str, report: AssessmentReport) -> str:
    req = report.requirement
    parts = [f"<h2>{html.escape(title)}</h2>", '<div class="thumbs">']
    parts += [_img(p, f"w={w:.3g}") for p, w in zip(req.paths, req.weights, strict=True)]
    parts.append("</div>")
    if report.multiple_models:
        parts.append('<p class="warn">The stores were encoded with different models; each '
                     "store's own model encoded the requirement.</p>")
    parts.append("<table><tr><th>#</th><th>collection</th><th>R</th><th></th><th>S</th>"
                 "<th>k/N</th><th>matches</th><th>top matched images</th></tr>")
    for i, r in enumerate(report.results, 1):
        a = r.paper
        thumbs = "".join(_img(t["path"], f"d={t['distance']}")
                         for t in r.matched_images(report.top_images))
        warn = "".join(f'<div class="warn">{html.escape(w)}</div>' for w in r.warnings)
        parts.append(
            f"<tr><td>{i}</td><td>{html.escape(r.target.name)}{warn}</td>"
            f'<td class="num">{a.relevance:.3f}</td>'
            f'<td><span class="bar" style="width:{100 * a.relevance:.0f}px"></span></td>'
            f'<td class="num">{a.score:.4g}</td><td class="num">{a.rank}/{a.total}</td>'
            f'<td class="num">{r.matches}</td><td class="thumbs">{thumbs}</td></tr>')
    parts.append("</table>")
    parts += [_explain(r, req.paths) for r in report.results]
    return "\n".join(parts)


def _explain(r: CollectionResult, paths: Sequence[Path]) -> str:
    """Per requirement image: weight, matches and contribution to S (Eq. 1)."""
    rows = "".join(
        f"<tr><td>{html.escape(Path(paths[m.index]).name)}</td><td class=\"num\">{m.weight:.3g}"
        f"</td><td class=\"num\">{m.matched_codes}</td><td class=\"num\">{m.matched_images}"
        f"</td><td class=\"num\">{m.mean_score:.4g}</td><td class=\"num\">"
        f"{m.contribution:.4g}</td><td class=\"num\">{m.radius_used}</td></tr>"
        for m in r.paper.per_image)
    return (f"<details><summary>{html.escape(r.target.name)}: why S = "
            f"{r.paper.score:.4g}</summary><table><tr><th>image</th><th>W</th>"
            "<th>codes</th><th>images m<sub>i</sub></th><th>mean score</th>"
            f"<th>contribution</th><th>radius</th></tr>{rows}</table></details>")


def render_html(sections: Sequence[tuple[str, AssessmentReport]],
                title: str = "dhr assessment") -> str:
    """The whole report as one HTML string."""
    body = "\n".join(_section(t, r) for t, r in sections)
    params = ""
    if sections:
        a = sections[0][1].assessor
        params = ", ".join(f"{k}={v}" for k, v in a.params.model_dump().items())
        params = f"<p>Assessor <code>{html.escape(a.name)}</code> ({html.escape(params)}). "
        params += "R = 1 &minus; k/N; collections sorted by R.</p>"
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"{params}{body}</body></html>\n")


def write_html(path: str | Path, sections: Sequence[tuple[str, AssessmentReport]],
               title: str = "dhr assessment") -> Path:
    """Write the report to ``path`` (parent folders created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(sections, title), encoding="utf-8")
    return out
