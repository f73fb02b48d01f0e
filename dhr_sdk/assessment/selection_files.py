"""The files ``dhr select`` writes from a :class:`~dhr_sdk.assessment.selection.Selection`:
a CSV or JSON export and one plain path list per collection; every target is checked
before anything is written, and a store is never written to."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from dhr_sdk.assessment.selection import Selection
from dhr_sdk.core.errors import DhrError

#: The CSV export's columns, in order (one row per selected image).
CSV_COLUMNS = ("rank", "path", "collection", "store", "image_id", "distance", "score",
               "group")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _guard(path: Path, selection: Selection) -> None:
    """Never write over a store."""
    stores = {t.path.resolve() for t in selection.targets}
    if path.resolve() in stores:
        raise DhrError(f"{path} is one of the stores; nothing is ever written to a store")


def write_csv(selection: Selection, path: str | Path) -> Path:
    """One row per selected image, in rank order, with a header (:data:`CSV_COLUMNS`)."""
    out = Path(path)
    _guard(out, selection)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for rec in selection.image_records():
        w.writerow([rec[c] for c in CSV_COLUMNS])
    return _write(out, buf.getvalue())


def write_json(data: dict[str, Any], path: str | Path, selection: Selection) -> Path:
    """``data`` (normally :meth:`Selection.to_json`) as an indented JSON file."""
    out = Path(path)
    _guard(out, selection)
    return _write(out, json.dumps(data, indent=2) + "\n")


def export_kind(path: str | Path) -> str:
    """``csv`` or ``json`` from the export file's suffix; anything else is an error."""
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in ("csv", "json"):
        raise DhrError(f"--export {path}: the file name must end in .csv or .json")
    return kind


def check_outputs(selection: Selection, export: str | Path | None = None,
                  lists: str | Path | None = None) -> list[Path]:
    """Every file an export and the lists would write, checked before anything is written:
    never a store, a known export suffix, one list file per collection name."""
    out: list[Path] = []
    if export is not None:
        export_kind(export)
        out.append(Path(export))
    if lists is not None:
        base = Path(lists)
        if base.exists() and not base.is_dir():
            raise DhrError(f"--lists {base} is a file, not a folder")
        names = [t.name for t in selection.targets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DhrError(f"two stores are named {dup[0]!r}; --lists writes one file per "
                           "collection name")
        out += [base / f"{n}.txt" for n in names]
    for path in out:
        _guard(path, selection)
    return out


def write_lists(selection: Selection, folder: str | Path) -> list[Path]:
    """``folder/<collection>.txt`` per store (empty when nothing was selected from it): one
    absolute image path per line, in rank order, the plain list labeling tools import."""
    files = check_outputs(selection, lists=folder)
    return [_write(f, "".join(p + "\n" for p in paths))
            for f, (_, paths) in zip(files, selection.paths_by_collection(), strict=True)]
