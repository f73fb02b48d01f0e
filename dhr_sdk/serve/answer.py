"""The ``POST /v1/assess`` answer: the ``dhr assess --json`` contract, per collection.

Each entry of ``collections`` is the CLI's result entry (same scores, same ranking) plus its
``name``, the explanation sentences of the HTML report and, per matched image, the URL of
its thumbnail (its ``index`` in the store is in the CLI's entry already).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dhr_sdk.assessment.assess import AssessmentReport
from dhr_sdk.assessment.report_text import collection_sentences, ranking_sentence


def thumbnails_of(name: str) -> str:
    """The URL of collection ``name``'s thumbnails, to which an image index is appended."""
    return f"/v1/collections/{quote(name, safe='')}/images/"


def answer(report: AssessmentReport, elapsed_ms: float) -> dict[str, Any]:
    """``report`` as the server answers it (docs/serve.md)."""
    data = report.to_json()
    entries = data.pop("results")
    collections = []
    for entry, r in zip(entries, report.results, strict=True):
        name = r.target.name
        base = thumbnails_of(name)
        for t in entry["top_images"]:
            t["thumbnail"] = f"{base}{t['index']}"
        collections.append({"name": name, **entry,
                            "explanation": collection_sentences(r, report)})
    return {"collections": collections, "ranking": ranking_sentence(report), **data,
            "elapsed_ms": round(elapsed_ms, 3)}
