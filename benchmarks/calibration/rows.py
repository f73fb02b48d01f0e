"""The calibration benchmark's results file (one row per set x hasher x bits x seed, merged
under a lock) and the metrics computed from its rows."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.evaluation.allocation import RequirementResult, mean_metrics

from .sets import SETS

FORMAT = "dhr-assessment-calibration"
HASHERS = ("lsh", "pcah", "itq", "sh", "nrdh", "dstgeh", "lagnh", "gah")
FAST = ("lsh", "pcah", "itq", "sh")

#: The methods, in table order, with their column labels.
WANTED, WANTED_IMP, PAPER, RETRIEVAL, RANDOM = ("wanted-count", "wanted-count[importance]",
                                                 "importance-list", "retrieval", "random")
METHODS = (WANTED, WANTED_IMP, PAPER, RETRIEVAL, RANDOM)
LABELS = {WANTED: "wanted (default)", WANTED_IMP: "wanted ×importance", PAPER: "R(AD)",
          RETRIEVAL: "retrieval Σm", RANDOM: "random"}
COUNTERS = (WANTED, WANTED_IMP)

#: Targets of issue #20 for the default configuration, on every set.
TARGETS = {"top1_hit_rate": 0.95, "mean_spearman": 0.9, "count_error": 0.15}


def row_key(set_name: str, hasher: str, bits: int, seed: int) -> str:
    return f"{set_name}|{hasher}|{bits}|{seed}"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path`` (two benchmark processes may merge rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_rows(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    rows: dict[str, Any] = data.get("rows", {})
    return rows


def merge_row(path: Path, row: dict[str, Any]) -> None:
    with locked(path):
        rows = read_rows(path)
        rows[row_key(row["set"], row["hasher"], row["bits"], row["seed"])] = row
        ordered = dict(sorted(rows.items(), key=lambda kv: _sort_key(kv[1])))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "version": 1, "rows": ordered}, indent=1)
                       + "\n")
        tmp.replace(path)


def _sort_key(row: dict[str, Any]) -> tuple[int, int, int, int]:
    s = SETS.index(row["set"]) if row["set"] in SETS else len(SETS)
    h = HASHERS.index(row["hasher"]) if row["hasher"] in HASHERS else len(HASHERS)
    return s, h, int(row["bits"]), int(row["seed"])


GROUPS = {"single": "single-class", "weighted": "weighted pair", "multi": "zoo",
          "cooccur": "co-occurrence pairs"}


def row_results(row: dict[str, Any]) -> list[RequirementResult]:
    return [RequirementResult.from_json(r) for r in row["requirements"]]


def retrieval_count_error(results: Sequence[RequirementResult]) -> float | None:
    """Σ_i m_i read as a count (it counts an image once per requirement image matching it):
    its count error, for comparison with the wanted-count estimate."""
    errs = []
    for r in results:
        truth = np.asarray(r.wanted, dtype=np.float64)
        if truth.sum() > 0:
            errs.append(float(np.abs(np.asarray(r.method(RETRIEVAL).values) - truth).sum()
                              / truth.sum()))
    return float(np.mean(errs)) if errs else None


def row_metrics(row: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """group -> method -> metric (means over the group's requirements, one seed)."""
    results = row_results(row)
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for group in GROUPS:
        rs = [r for r in results if r.kind == group]
        if not rs:
            continue
        names = {m.method for m in rs[0].methods}
        out[group] = {m: mean_metrics(rs, m) for m in METHODS if m in names}
        out[group][RETRIEVAL]["count_error"] = retrieval_count_error(rs)
        raw = [r for r in row["requirements"] if "matched" in r
               and RequirementResult.from_json(r).kind == group]
        if raw:
            tp = sum(sum(r["true_matched"]) for r in raw)
            out[group]["diagnostics"] = {
                "recall": tp / max(sum(sum(r["wanted"]) for r in raw), 1e-9),
                "precision": tp / max(sum(sum(r["matched"]) for r in raw), 1e-9)}
    return out


def aggregate(rows: Sequence[dict[str, Any]]
              ) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(set, hasher, bits) -> {"seeds": [...], "metrics": [row_metrics per seed], "seconds"}."""
    groups: dict[tuple[str, str, int], dict[str, Any]] = {}
    for row in sorted(rows, key=_sort_key):
        g = groups.setdefault((row["set"], row["hasher"], int(row["bits"])),
                              {"seeds": [], "metrics": [], "seconds": []})
        g["seeds"].append(int(row["seed"]))
        g["metrics"].append(row_metrics(row))
        g["seconds"].append(row["build_seconds"] + row["assess_seconds"])
    return groups


def values_over_seeds(g: dict[str, Any], group: str, method: str, metric: str) -> list[float]:
    out = []
    for m in g["metrics"]:
        v = m.get(group, {}).get(method, {}).get(metric)
        if v is not None:
            out.append(float(v))
    return out
