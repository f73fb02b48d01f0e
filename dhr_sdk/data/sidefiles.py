"""Label and tag side files: which names belong to which image (multi-label first-class).

Two formats, chosen by the file name ending (see docs/data.md):

``.csv``
    A header row with the columns ``image`` and ``labels`` (``tags`` for a tag file);
    ``image`` is the path relative to the collection root (``/`` separators), the second
    cell holds zero or more names separated by ``;`` (``cat;dog``). An image may appear
    on several rows; its names are the union.
``.jsonl`` (or ``.ndjson``)
    One JSON object per line: ``{"image": "a/1.png", "labels": ["cat", "dog"]}`` (a
    single string is accepted as one name). Blank lines are ignored.

Names are sorted (so the column order is deterministic); images without an entry get an
all-zero row; an entry naming an image that is not in the collection is an error.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.sparse as sp

from dhr_sdk.core.errors import DhrError

SEPARATOR = ";"
CSV_ENDINGS = (".csv",)
JSONL_ENDINGS = (".jsonl", ".ndjson")


@dataclass
class SideTable:
    """Multi-hot matrix (n_images, n_names) aligned with the collection's image ids."""

    matrix: sp.csr_matrix
    names: list[str]
    n_unlisted: int
    """Images of the collection that have no entry in the file."""


def normalise_id(raw: str) -> str:
    """An image id as stored: relative POSIX path without ``./`` prefix."""
    return PurePosixPath(raw.strip().replace("\\", "/")).as_posix().removeprefix("./")


def _split(cell: object) -> list[str]:
    if cell is None:
        return []
    if isinstance(cell, str):
        return [n.strip() for n in cell.split(SEPARATOR) if n.strip()]
    if isinstance(cell, list) and all(isinstance(n, str) for n in cell):
        return [n.strip() for n in cell if n.strip()]
    raise DhrError(f"expected a name or a list of names, got {cell!r}")


def _read_csv(path: Path, column: str) -> list[tuple[str, list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if "image" not in fields or column not in fields:
            raise DhrError(f"{path}: the header must name the columns 'image' and '{column}' "
                           f"(found {', '.join(fields) or 'no header'})")
        return [(row["image"] or "", _split(row[column])) for row in reader]


def _read_jsonl(path: Path, column: str) -> list[tuple[str, list[str]]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get("image"), str):
                    raise DhrError("each line must be an object with a string 'image'")
                rows.append((obj["image"], _split(obj.get(column))))
            except (json.JSONDecodeError, DhrError) as exc:
                raise DhrError(f"{path}, line {lineno}: {exc}") from None
    return rows


def read_side_file(path: str | Path, image_ids: Sequence[str], column: str) -> SideTable:
    """Read a label (``column="labels"``) or tag (``"tags"``) file for ``image_ids``."""
    p = Path(path)
    if not p.is_file():
        raise DhrError(f"{column} file {p} does not exist")
    ending = p.name.lower()
    if ending.endswith(CSV_ENDINGS):
        rows = _read_csv(p, column)
    elif ending.endswith(JSONL_ENDINGS):
        rows = _read_jsonl(p, column)
    else:
        raise DhrError(f"{column} file {p} must end in .csv or .jsonl")
    position = {iid: i for i, iid in enumerate(image_ids)}
    per_image: dict[int, set[str]] = {}
    unknown: list[str] = []
    for raw, names in rows:
        iid = normalise_id(raw)
        if iid not in position:
            unknown.append(iid)
            continue
        per_image.setdefault(position[iid], set()).update(names)
    if unknown:
        raise DhrError(f"{p} names {len(unknown)} image(s) that are not in the collection, "
                       f"e.g. {unknown[0]!r} (ids are paths relative to the collection root)")
    names = sorted(set().union(*per_image.values())) if per_image else []
    col = {n: j for j, n in enumerate(names)}
    r = [i for i, ns in per_image.items() for _ in ns]
    c = [col[n] for ns in per_image.values() for n in ns]
    matrix = sp.csr_matrix((np.ones(len(r), dtype=np.uint8), (r, c)),
                           shape=(len(image_ids), len(names)))
    matrix.sort_indices()
    return SideTable(matrix, names, len(image_ids) - len(per_image))


def write_side_file(path: str | Path, image_ids: Sequence[str], matrix: sp.spmatrix | np.ndarray,
                    names: Sequence[str], column: str = "labels") -> None:
    """Write a side file (format by ending) — the inverse of :func:`read_side_file`."""
    p = Path(path)
    dense = sp.csr_matrix(matrix)
    if dense.shape != (len(image_ids), len(names)):
        raise DhrError(f"{column} matrix shape {dense.shape} does not match "
                       f"{len(image_ids)} images x {len(names)} names")
    if any(SEPARATOR in n for n in names):
        raise DhrError(f"{column} names must not contain {SEPARATOR!r}")
    per_row = [[names[j] for j in dense.indices[dense.indptr[i]:dense.indptr[i + 1]]]
               for i in range(len(image_ids))]
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.name.lower().endswith(JSONL_ENDINGS):
        with p.open("w", encoding="utf-8") as fh:
            for iid, ns in zip(image_ids, per_row, strict=True):
                fh.write(json.dumps({"image": iid, column: ns}) + "\n")
    elif p.name.lower().endswith(CSV_ENDINGS):
        with p.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image", column])
            for iid, ns in zip(image_ids, per_row, strict=True):
                w.writerow([iid, SEPARATOR.join(ns)])
    else:
        raise DhrError(f"{column} file {p} must end in .csv or .jsonl")
