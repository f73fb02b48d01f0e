"""The ``POST /v1/assess`` answer: the ``dhr assess --json`` contract, per collection.

Each entry of ``collections`` is the CLI's result entry (same scores, same ranking) plus its
``name``, the explanation sentences of the HTML report and, per matched image, its index in
the store and the URL of its thumbnail.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dhr_sdk.assessment.assess import AssessmentReport
from dhr_sdk.assessment.report_text import collection_sentences, ranking_sentence
from dhr_sdk.assessment.targets import StoreTarget


def thumbnail_url(name: str, index: int) -> str:
    return f"/v1/collections/{quote(name, safe='')}/images/{index}"


def image_index(target: StoreTarget, row: int, image_id: str) -> int:
    """The store index of matched image ``image_id``, one of the images of code ``row``."""
    for i in target.importance.images_of(row):
        if target.image_ids[int(i)] == image_id:
            return int(i)
    raise ValueError(f"{image_id!r} is not an image of row {row}")


def answer(report: AssessmentReport, elapsed_ms: float) -> dict[str, Any]:
    """``report`` as the server answers it (docs/serve.md)."""
    data = report.to_json()
    entries = data.pop("results")
    collections = []
    for entry, r in zip(entries, report.results, strict=True):
        name = r.target.name
        for t in entry["top_images"]:
            t["index"] = image_index(r.target, t["row"], t["image_id"])
            t["thumbnail"] = thumbnail_url(name, t["index"])
        collections.append({"name": name, **entry,
                            "explanation": collection_sentences(r, report)})
    return {"collections": collections, "ranking": ranking_sentence(report), **data,
            "elapsed_ms": round(elapsed_ms, 3)}
