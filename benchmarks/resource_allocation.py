"""Assessment calibration: which assessor picks the right collections (issue #20, item 4).

The resource-allocation experiment of the framework paper (sections 6.3-6.4, Tables 3-4
and 6-7) on three real labeled sets, three seeds and every built-in hasher. One command::

    python benchmarks/resource_allocation.py

Per data set (``animal-mnist``: Table 3 mixes of the animal silhouettes; ``mnist``: the same
mixes on the MNIST digits; ``multilabel``: Table 6 pools on canvases of real tiles), seed
(data and hasher seed) and hasher configuration, the stores are built ONCE (one model fitted
on all candidates, the ``dhr demo`` pipeline) and every method is evaluated on them:
``wanted-count`` (the default assessor), ``wanted-count`` with ``weighting=importance``,
the paper's R(AD) (``importance-list`` defaults), retrieval-only (Σ_i m_i) and random
selection. Metrics per requirement (``dhr_sdk.evaluation.allocation``): top-1 hit, Spearman(value,
true share), count error and interval coverage of the count estimators.

Rows accumulate in ``docs/results/assessment-calibration.json`` (keyed by set, hasher,
bits, seed; an existing row is kept unless ``--force``), so partial runs add up::

    python benchmarks/resource_allocation.py --sets mnist --hashers itq --seeds 0
    python benchmarks/resource_allocation.py --render   # page from the JSON only

``docs/results/assessment-calibration.md`` is regenerated below its marker line from all
rows; the hand-written head above the marker is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from PIL import Image

from dhr_sdk.assessment.assess import make_assessor
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data.sidefiles import write_side_file
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.datasets.materialise import MANIFEST, materialise_demo
from dhr_sdk.datasets.multilabel import compose_multilabel
from dhr_sdk.evaluation.allocation import RequirementResult, RequirementSpec, mean_metrics
from dhr_sdk.evaluation.demo import (
    DEFAULT_HASHER,
    DEFAULT_HASHER_PARAMS,
    DemoConfig,
    assess_demo,
    build_demo_stores,
    demo_assessors,
    requirement_specs,
)

MARKER = "## Measured (generated below this line)"
PAGE = "assessment-calibration"
FORMAT = "dhr-assessment-calibration"
HASHERS = ("lsh", "pcah", "itq", "sh", "nrdh", "dstgeh", "lagnh", "gah")
FAST = ("lsh", "pcah", "itq", "sh")
SETS = ("animal-mnist", "mnist", "multilabel")
#: The methods, in table order, with their column labels.
WANTED, WANTED_IMP, PAPER, RETRIEVAL, RANDOM = ("wanted-count", "wanted-count[importance]",
                                                 "importance-list", "retrieval", "random")
METHODS = (WANTED, WANTED_IMP, PAPER, RETRIEVAL, RANDOM)
LABELS = {WANTED: "wanted (default)", WANTED_IMP: "wanted ×importance", PAPER: "R(AD)",
          RETRIEVAL: "retrieval Σm", RANDOM: "random"}
COUNTERS = (WANTED, WANTED_IMP)
#: Targets of issue #20 for the default configuration, on every set.
TARGETS = {"top1_hit_rate": 0.95, "mean_spearman": 0.9, "count_error": 0.15}

#: Table-3-like sets (materialise_demo). ``public_per_class`` images per class go into no
#: folder, so GAH's labeled public set has enough of every class (without it, the classes
#: most collections hold leave 10-25 free images).
SINGLE_SETS: dict[str, dict[str, Any]] = {
    "animal-mnist": {"source": "animal-mnist", "per_collection": 1000, "n_requirement": 20,
                     "public_per_class": 150},
    "mnist": {"source": "mnist", "per_collection": 500, "n_requirement": 20,
              "public_per_class": 80},
}
#: Table 6 (VOC2007) mapped onto animal-mnist tiles: car -> cow, person -> horse,
#: aeroplane -> bird, dog and sheep kept; giraffe and zebra tiles are background in all.
TABLE6_POOLS = {"VDS1": ("cow", "horse"), "VDS2": ("dog",), "VDS3": ("cow",),
                "VDS4": ("dog", "horse"), "VDS5": ("cow", "bird"), "VDS6": ("dog", "sheep"),
                "VDS7": ("cow", "dog")}
BACKGROUND = ("giraffe", "zebra")
PAIRS = (("horse", "cow"), ("horse", "dog"))
ML_SINGLES = ("cow", "dog", "horse", "bird", "sheep")
MULTILABEL = {"per_collection": 800, "n_requirement": 20, "held_per_class": 60,
              "public_per_class": 100, "public_canvases": 1500}


# ---------------------------------------------------------------- multi-label data (Table 6)

def _save(folder: Path, images: np.ndarray) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:06d}.png" for i in range(len(images))]
    for name, img in zip(names, images, strict=True):
        Image.fromarray(img).save(folder / name, compress_level=1)
    return names


def _counts(labels: np.ndarray, classes: list[str]) -> dict[str, int]:
    counts = {c: int(labels[:, k].sum()) for k, c in enumerate(classes)}
    for a, b in PAIRS:
        both = (labels[:, classes.index(a)] == 1) & (labels[:, classes.index(b)] == 1)
        counts[f"{a}+{b}"] = int(both.sum())
    return counts


def _canvases(images: np.ndarray, y: np.ndarray, classes: list[str], rows: np.ndarray,
              use: Sequence[str], n: int, seed: int, cooccur: tuple[str, str] | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Canvases of 1-3 tiles drawn only from the classes ``use`` (labels in all classes)."""
    ks = sorted(classes.index(c) for c in use)
    sel = rows[np.isin(y[rows], ks)]
    sub_y = np.searchsorted(np.array(ks), y[sel])
    imgs, sub = compose_multilabel(images[sel], sub_y, [classes[k] for k in ks], n=n,
                                   seed=seed, grid=2, min_objects=1, max_objects=3,
                                   cooccur=cooccur)
    labels = np.zeros((n, len(classes)), dtype=np.uint8)
    labels[:, ks] = sub
    return imgs, labels


def materialise_multilabel(out: Path, seed: int = 0) -> dict[str, Any]:
    """Multi-label collections like Table 6 (canvases of 1-3 real tiles from class pools,
    horse -> cow co-occurrence), held-out requirement canvases per single class and per
    pair, and a labeled public set (for GAH) from tiles in neither; returns the manifest."""
    cfg = MULTILABEL
    data = load_demo_arrays("animal-mnist")
    classes, y = list(data.class_names), data.class_index
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(np.flatnonzero(y == k)) for k in range(len(classes))]
    h, p = cfg["held_per_class"], cfg["public_per_class"]
    held = np.concatenate([q[:h] for q in perms])
    public = np.concatenate([q[h:h + p] for q in perms])
    pool = np.concatenate([q[h + p:] for q in perms])
    n = cfg["per_collection"]
    manifest: dict[str, Any] = {"source": "animal-multilabel", "seed": seed,
                                "class_names": classes, "collections": [], "requirements": []}
    for i, (name, wanted_) in enumerate(TABLE6_POOLS.items()):
        co = ("horse", "cow") if {"horse", "cow"} <= set(wanted_) else None
        imgs, labels = _canvases(data.images, y, classes, pool, (*wanted_, *BACKGROUND), n,
                                 seed + 10 + i, co)
        _save(out / "collections" / name, imgs)
        manifest["collections"].append({"name": name, "path": f"collections/{name}",
                                        "n_images": n, "class_counts": _counts(labels, classes),
                                        "labels": labels.tolist()})
    for j, target in enumerate([*((c,) for c in ML_SINGLES), *PAIRS]):
        imgs, labels = _canvases(data.images, y, classes, held, target,
                                 cfg["n_requirement"] * 10, seed + 50 + j, None)
        has = np.all(labels[:, [classes.index(c) for c in target]] == 1, axis=1)
        name = "+".join(target)
        _save(out / "requirements" / name, imgs[has][:cfg["n_requirement"]])
        manifest["requirements"].append({"path": f"requirements/{name}",
                                         "target": list(target)})
    used = sorted({c for w in TABLE6_POOLS.values() for c in w} | set(BACKGROUND))
    imgs, labels = _canvases(data.images, y, classes, public, used, cfg["public_canvases"],
                             seed + 90, None)
    ids = _save(out / "public-train", imgs)
    write_side_file(out / "labels" / "public-train.csv", ids, labels, classes, "labels")
    manifest["public_train"] = {"path": "public-train", "labels_file": "labels/public-train.csv"}
    return manifest


def multilabel_specs() -> list[RequirementSpec]:
    return [RequirementSpec(c, {c: 1.0}) for c in (*ML_SINGLES, *("+".join(p) for p in PAIRS))]


# ---------------------------------------------------------------- one configuration

def data_for(set_name: str, seed: int, out: Path) -> tuple[Path, dict[str, Any],
                                                           list[RequirementSpec], DemoConfig]:
    """The set's materialised data (reused when its stamp matches), specs and base config."""
    data = out / set_name / f"seed{seed}" / "data"
    spec = SINGLE_SETS.get(set_name, MULTILABEL)
    stamp = {"set": set_name, "seed": seed, **spec}
    stamp_file = data / "bench-stamp.json"
    manifest_file = data / (MANIFEST if set_name in SINGLE_SETS else "bench-manifest.json")
    if stamp_file.is_file() and manifest_file.is_file() \
            and json.loads(stamp_file.read_text()) == stamp:
        manifest = json.loads(manifest_file.read_text())
    else:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        if set_name in SINGLE_SETS:
            manifest = materialise_demo(data, seed, n_multilabel=0, overwrite=True, **spec)
        else:
            manifest = materialise_multilabel(data, seed)
            manifest_file.write_text(json.dumps(manifest, indent=1))
        stamp_file.write_text(json.dumps(stamp))
    if set_name in SINGLE_SETS:
        specs = requirement_specs(manifest["class_names"], spec["source"])
        cfg = DemoConfig(seed=seed, source=spec["source"], per_collection=spec["per_collection"],
                         n_requirement=spec["n_requirement"],
                         public_per_class=spec["public_per_class"])
    else:
        specs = multilabel_specs()
        cfg = DemoConfig(seed=seed, per_collection=spec["per_collection"],
                         n_requirement=spec["n_requirement"])
    return data, manifest, specs, cfg


def hasher_params(hasher: str, bits: int, seed: int, extra: dict[str, Any]) -> dict[str, Any]:
    fields = get_registry().get("hasher", hasher).cls.Params.model_fields
    params: dict[str, Any] = {"n_bits": bits, **extra}
    if "seed" in fields:
        params["seed"] = seed
    return params


def run_one(set_name: str, hasher: str, bits: int, seed: int, out: Path,
            extra: dict[str, Any], keep: bool, assessor_params: dict[str, Any] | None = None,
            variant: str = "") -> dict[str, Any]:
    """Build the stores once and evaluate every method on them; one results row."""
    data, manifest, specs, base = data_for(set_name, seed, out)
    params = hasher_params(hasher, bits, seed, extra)
    cfg = dataclasses.replace(base, hasher=hasher, hasher_params=params,
                              assessor_params=dict(assessor_params or {}))
    work = out / set_name / f"seed{seed}" / f"{hasher}-{bits}{'-' + variant if variant else ''}"
    shutil.rmtree(work, ignore_errors=True)
    start = time.perf_counter()
    stores = build_demo_stores(work, manifest, cfg, data_dir=data)
    built = time.perf_counter()
    ranking, _ = demo_assessors(cfg.assessor_params)
    imp = make_assessor(WANTED, {**ranking.params.model_dump(), "weighting": "importance"})
    reports, evaluations = assess_demo(work, manifest, stores, cfg, specs=specs,
                                       extra={WANTED_IMP: imp}, data_dir=data)
    done = time.perf_counter()
    truth = image_labels(manifest)
    requirements = []
    for (_, report), ev in zip(reports, evaluations, strict=True):
        entry = ev.to_json()
        entry["matched"], entry["true_matched"] = match_truth(report, ev, truth, manifest)
        requirements.append(entry)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"set": set_name, "hasher": hasher, "bits": bits, "seed": seed,
            "hasher_params": params, "assessor_params": cfg.assessor_params,
            "build_seconds": round(built - start, 2),
            "assess_seconds": round(done - built, 2),
            "collections": len(manifest["collections"]), "requirements": requirements}


def image_labels(manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per collection: the multi-hot labels of its files, in file-name order."""
    if "labels" in manifest["collections"][0]:
        return {c["name"]: np.asarray(c["labels"], dtype=np.uint8)
                for c in manifest["collections"]}
    arrays = load_demo_arrays(manifest["source"])
    return {c["name"]: arrays.labels[np.asarray(c["source_indices"])]
            for c in manifest["collections"]}


def image_weights(labels: np.ndarray, classes: Sequence[str], spec: RequirementSpec
                  ) -> np.ndarray:
    """How much each image is wanted (the ground truth ``wanted`` per image): the largest
    ``w_c / max w`` of its classes; a key ``a+b`` wants images holding both."""
    top = max(spec.classes.values())
    out = np.zeros(labels.shape[0])
    for key, w in spec.classes.items():
        cols = [list(classes).index(c) for c in key.split("+")]
        has = np.all(labels[:, cols] == 1, axis=1)
        out = np.maximum(out, has * (w / top))
    return out


def match_truth(report: Any, ev: RequirementResult, truth: dict[str, np.ndarray],
                manifest: dict[str, Any]) -> tuple[list[int], list[float]]:
    """Per collection (in ``ev`` order): the distinct images within τ of the requirement
    and how much of them is truly wanted (the diagnostics of the count's error:
    recall = true_matched / wanted, precision = true_matched / matched)."""
    by_name = {r.target.name: r for r in report.results}
    matched, true_matched = [], []
    for name in ev.collections:
        rows = [int(Path(m["image_id"]).stem) for m in by_name[name].matched_images(None)]
        w = image_weights(truth[name], manifest["class_names"], ev.spec)
        matched.append(len(rows))
        true_matched.append(float(w[rows].sum()) if rows else 0.0)
    return matched, true_matched


# ---------------------------------------------------------------- results file

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


# ---------------------------------------------------------------- metrics and tables

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


def cell(vals: Sequence[float], kind: str) -> str:
    """Mean over seeds with (min-max) when there are several seeds."""
    if not vals:
        return "-"
    fmt = {"pct": lambda x: f"{100 * x:.0f}%", "rho": lambda x: f"{x:.2f}"}[kind]
    mean = fmt(float(np.mean(vals)))
    if len(vals) == 1:
        return mean
    lo, hi = fmt(min(vals)), fmt(max(vals))
    return mean if lo == hi else f"{mean} ({lo}–{hi})"


def config_label(key: tuple[str, str, int], g: dict[str, Any]) -> str:
    seeds = ",".join(str(s) for s in g["seeds"])
    return f"| {key[0]} | {key[1]} | {key[2]} | {seeds} |"


def metric_table(groups: dict[tuple[str, str, int], dict[str, Any]], group: str, metric: str,
                 kind: str, methods: Sequence[str]) -> list[str]:
    head = "| set | hasher | bits | seeds | " + " | ".join(LABELS[m] for m in methods) + " |"
    lines = [head, "|---|---|---|---|" + "---|" * len(methods)]
    for key, g in groups.items():
        if not any(group in m for m in g["metrics"]):
            continue
        cells = [cell(values_over_seeds(g, group, m, metric), kind) for m in methods]
        lines.append(config_label(key, g) + " " + " | ".join(cells) + " |")
    return lines


def count_table(groups: dict[tuple[str, str, int], dict[str, Any]], group: str) -> list[str]:
    head = ("| set | hasher | bits | seeds | wanted: count error | wanted: coverage | "
            "×importance: count error | ×importance: coverage | retrieval Σm as a count: "
            "error | recall within τ | precision within τ |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, g in groups.items():
        if not any(group in m for m in g["metrics"]):
            continue
        cells = [cell(values_over_seeds(g, group, WANTED, "count_error"), "pct"),
                 cell(values_over_seeds(g, group, WANTED, "coverage"), "pct"),
                 cell(values_over_seeds(g, group, WANTED_IMP, "count_error"), "pct"),
                 cell(values_over_seeds(g, group, WANTED_IMP, "coverage"), "pct"),
                 cell(values_over_seeds(g, group, RETRIEVAL, "count_error"), "pct"),
                 cell(values_over_seeds(g, group, "diagnostics", "recall"), "pct"),
                 cell(values_over_seeds(g, group, "diagnostics", "precision"), "pct")]
        lines.append(config_label(key, g) + " " + " | ".join(cells) + " |")
    return lines


def other_table(groups: dict[tuple[str, str, int], dict[str, Any]], group: str) -> list[str]:
    """Top-1 / Spearman / count error of a requirement group (the pair, the zoo)."""
    methods = (WANTED, WANTED_IMP, PAPER, RETRIEVAL, RANDOM)
    head = ("| set | hasher | bits | seeds | " + " | ".join(LABELS[m] for m in methods)
            + " |")
    lines = [head, "|---|---|---|---|" + "---|" * len(methods)]
    for key, g in groups.items():
        if not any(group in m for m in g["metrics"]):
            continue
        cells = []
        for m in methods:
            top = values_over_seeds(g, group, m, "top1_hit_rate")
            rho = values_over_seeds(g, group, m, "mean_spearman")
            err = values_over_seeds(g, group, m, "count_error") if m in COUNTERS else []
            parts = [f"{100 * np.mean(top):.0f}%" if top else "-",
                     f"{np.mean(rho):.2f}" if rho else "-"]
            if err:
                parts.append(f"{100 * np.mean(err):.0f}%")
            cells.append(" / ".join(parts))
        lines.append(config_label(key, g) + " " + " | ".join(cells) + " |")
    return lines


def default_bits() -> int:
    return int(DEFAULT_HASHER_PARAMS.get("n_bits", 64))


def passes(g: dict[str, Any]) -> dict[str, tuple[float | None, bool]]:
    """The default assessor's mean (over seeds) single-class metrics against the targets."""
    out: dict[str, tuple[float | None, bool]] = {}
    for metric, target in TARGETS.items():
        vals = values_over_seeds(g, "single", WANTED, metric)
        if not vals:
            out[metric] = (None, False)
            continue
        v = float(np.mean(vals))
        out[metric] = (v, v <= target if metric == "count_error" else v >= target)
    return out


def targets_table(groups: dict[tuple[str, str, int], dict[str, Any]]) -> list[str]:
    lines = ["| set | hasher | bits | seeds | top-1 ≥ 95 % | Spearman ≥ 0.9 | count error "
             "≤ 15 % | all |", "|---|---|---|---|---|---|---|---|"]
    for key, g in groups.items():
        if not values_over_seeds(g, "single", WANTED, "top1_hit_rate"):
            continue
        p = passes(g)
        cells = []
        for metric, (v, ok) in p.items():
            if v is None:
                cells.append("-")
                continue
            shown = f"{100 * v:.0f}%" if metric != "mean_spearman" else f"{v:.2f}"
            cells.append(f"{shown} {'met' if ok else '**miss**'}")
        star = " (default)" if key[1:] == (DEFAULT_HASHER, default_bits()) else ""
        lines.append(f"| {key[0]} | {key[1]}{star} | {key[2]} | "
                     f"{','.join(map(str, g['seeds']))} | " + " | ".join(cells)
                     + f" | {'yes' if all(ok for _, ok in p.values()) else 'no'} |")
    return lines


def bits_table(groups: dict[tuple[str, str, int], dict[str, Any]]) -> list[str]:
    """The default assessor by code length: means over the fast hashers and seeds."""
    lines = ["| set | bits | hashers | wanted top-1 | wanted Spearman | wanted count error | "
             "R(AD) top-1 | R(AD) Spearman |", "|---|---|---|---|---|---|---|---|"]
    sets = sorted({k[0] for k in groups}, key=lambda s: SETS.index(s) if s in SETS else 9)
    for s in sets:
        for bits in sorted({k[2] for k in groups if k[0] == s}):
            gs = [g for k, g in groups.items() if k[0] == s and k[2] == bits and k[1] in FAST]
            if not gs:
                continue
            hashers = [k[1] for k in groups if k[0] == s and k[2] == bits and k[1] in FAST]

            def mean(method: str, metric: str, gs: list[dict[str, Any]] = gs) -> list[float]:
                return [v for g in gs for v in values_over_seeds(g, "single", method, metric)]
            lines.append(f"| {s} | {bits} | {','.join(hashers)} | "
                         f"{cell_mean(mean(WANTED, 'top1_hit_rate'), 'pct')} | "
                         f"{cell_mean(mean(WANTED, 'mean_spearman'), 'rho')} | "
                         f"{cell_mean(mean(WANTED, 'count_error'), 'pct')} | "
                         f"{cell_mean(mean(PAPER, 'top1_hit_rate'), 'pct')} | "
                         f"{cell_mean(mean(PAPER, 'mean_spearman'), 'rho')} |")
    return lines


def cell_mean(vals: Sequence[float], kind: str) -> str:
    if not vals:
        return "-"
    v = float(np.mean(vals))
    return f"{100 * v:.0f}%" if kind == "pct" else f"{v:.2f}"


def time_table(groups: dict[tuple[str, str, int], dict[str, Any]]) -> list[str]:
    lines = ["| set | hasher | bits | seeds | seconds per configuration (build + assess) |",
             "|---|---|---|---|---|"]
    for key, g in groups.items():
        lines.append(config_label(key, g) + f" {np.mean(g['seconds']):.0f} "
                     f"({min(g['seconds']):.0f}–{max(g['seconds']):.0f}) |")
    return lines


def requirement_table(ev: RequirementResult) -> list[str]:
    """Per collection: each method's position (value), the estimate with its interval and
    the truth; collected wanted images in the top-1/2/3 picks, like Table 4."""
    head = "| method | " + " | ".join(ev.collections) + " | top1 | top2 | top3 |"
    lines = [head, "|" + "---|" * (len(ev.collections) + 4)]
    for m in ev.methods:
        if m.order:
            pos = {c: i + 1 for i, c in enumerate(m.order)}
            cells = [f"{pos[j]} ({m.values[j]:.3g})" for j in range(len(ev.collections))]
        else:
            cells = ["-"] * len(ev.collections)
        lines.append(f"| {LABELS.get(m.method, m.method)} | " + " | ".join(cells) + " | "
                     + " | ".join(f"{x:.0f}" for x in m.collected) + " |")
        if m.estimate is not None:
            lines.append(f"| {LABELS.get(m.method, m.method)} interval | " + " | ".join(
                f"{lo:.0f}–{hi:.0f}" for lo, hi in zip(m.estimate.low, m.estimate.high,
                                                       strict=True)) + " | | | |")
    lines.append("| true wanted | " + " | ".join(f"{w:g}" for w in ev.wanted) + " | | | |")
    return lines


def render(rows: dict[str, Any], page: Path) -> list[str]:
    """The generated part of the page (and the summary printed at the end)."""
    groups = aggregate(list(rows.values()))
    single = list(METHODS)
    summary = ["### Targets: the default assessor (wanted-count), single-class requirements",
               "", *targets_table(groups)]
    body = [MARKER, "",
            "Generated by `python benchmarks/resource_allocation.py` from "
            f"`{page.with_suffix('.json').name}` (one row per set × hasher × bits × seed). "
            "Cells: mean over the seeds, (min–max) over seeds when they differ. Metric "
            "definitions: above.", "",
            *summary, "",
            "### Single-class requirements: top-1 hit rate", "",
            *metric_table(groups, "single", "top1_hit_rate", "pct", single), "",
            "### Single-class requirements: Spearman(value, true share)", "",
            *metric_table(groups, "single", "mean_spearman", "rho", single), "",
            "### Single-class requirements: count error and interval coverage", "",
            *count_table(groups, "single"), "",
            "### The default assessor by code length (fast hashers)", "",
            *bits_table(groups), ""]
    for group in ("weighted", "multi", "cooccur"):
        if any(group in m for g in groups.values() for m in g["metrics"]):
            body += [f"### {GROUPS[group].capitalize()}: top-1 / Spearman / count error", "",
                     *other_table(groups, group), ""]
    body += ["### Seconds per configuration", "", *time_table(groups), ""]
    body += ["### Per requirement, default configuration, seed 0", ""]
    for s in SETS:
        row = rows.get(row_key(s, DEFAULT_HASHER, default_bits(), 0))
        if row is None:
            continue
        body.append(f"#### {s}, {DEFAULT_HASHER}-{default_bits()}")
        for ev in row_results(row):
            body += ["", f"**{ev.spec.name}**", "", *requirement_table(ev)]
        body.append("")
    if page.exists():
        head = page.read_text().split(MARKER)[0]
    else:
        params = sorted({json.dumps(r.get("assessor_params", {}), sort_keys=True)
                         for r in rows.values()})
        head = (f"# {page.stem}\n\nAn exploratory variant of [{PAGE}.md]({PAGE}.md) (same "
                f"protocol and metrics), assessor params: {', '.join(params)}.\n\n")
    page.write_text(head + "\n".join(body).rstrip() + "\n")
    return summary


# ---------------------------------------------------------------- command line

def grid(hashers: Sequence[str], bits: Sequence[int], deep_bits: Sequence[int]
         ) -> list[tuple[str, int]]:
    return [(h, b) for h in hashers for b in (bits if h in FAST else deep_bits)]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _names(text: str, known: Sequence[str]) -> list[str]:
    out = [x for x in text.split(",") if x]
    bad = [x for x in out if x not in known]
    if bad:
        raise SystemExit(f"unknown: {', '.join(bad)} (known: {', '.join(known)})")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sets", default=",".join(SETS), help="[%(default)s]")
    ap.add_argument("--hashers", default=",".join(HASHERS), help="[%(default)s]")
    ap.add_argument("--seeds", default="0,1,2", help="data and hasher seeds [%(default)s]")
    ap.add_argument("--bits", default="16,32,64",
                    help="code lengths of the fast hashers (lsh, pcah, itq, sh) [%(default)s]")
    ap.add_argument("--deep-bits", default="64",
                    help="code lengths of the trained hashers [%(default)s]")
    ap.add_argument("--hasher-params", action="append", default=[],
                    help="HASHER=JSON extra params of one hasher (repeatable), e.g. "
                         "'gah={\"image_dim\": 256}'")
    ap.add_argument("--out", type=Path, default=Path("build/assessment-calibration"),
                    help="working folder (data, stores) [%(default)s]")
    ap.add_argument("--results", type=Path, default=Path("docs/results"),
                    help=f"folder of {PAGE}.md/.json [%(default)s]")
    ap.add_argument("--assessor-params", type=json.loads, default={},
                    help="JSON params of both assessors (as dhr demo -p assessor.KEY), e.g. "
                         "'{\"radius\": 3}'; use with --variant")
    ap.add_argument("--variant", default="",
                    help=f"write {PAGE}-VARIANT.md/.json instead (exploratory settings)")
    ap.add_argument("--force", action="store_true", help="re-run rows already in the JSON")
    ap.add_argument("--keep-stores", action="store_true", help="keep each configuration's stores")
    ap.add_argument("--render", action="store_true", help="only regenerate the page")
    args = ap.parse_args(argv)
    if args.assessor_params and not args.variant:
        raise SystemExit("--assessor-params changes the methods: give it a --variant name")
    name = f"{PAGE}-{args.variant}" if args.variant else PAGE
    results = args.results / f"{name}.json"
    page = args.results / f"{name}.md"
    extra = {}
    for item in args.hasher_params:
        name, _, text = item.partition("=")
        extra[name] = json.loads(text)
    if not args.render:
        todo = [(s, h, b, seed) for s in _names(args.sets, SETS) for seed in _ints(args.seeds)
                for h, b in grid(_names(args.hashers, HASHERS), _ints(args.bits),
                                 _ints(args.deep_bits))]
        for s, h, b, seed in todo:
            if not args.force and row_key(s, h, b, seed) in read_rows(results):
                print(f"{s} {h}-{b} seed {seed}: in {results}, skipped", flush=True)
                continue
            row = run_one(s, h, b, seed, args.out, extra.get(h, {}), args.keep_stores,
                          args.assessor_params, args.variant)
            merge_row(results, row)
            m = row_metrics(row)["single"]
            print(f"{s} {h}-{b} seed {seed}: {row['build_seconds'] + row['assess_seconds']:.0f}"
                  " s; single-class top-1 / Spearman / count error: "
                  + "; ".join(f"{LABELS[k]} {_fmt(m[k])}" for k in METHODS), flush=True)
    with locked(results):
        summary = render(read_rows(results), page)
    print("\n".join(summary))


def _fmt(m: dict[str, float | None]) -> str:
    parts = [f"{100 * (m['top1_hit_rate'] or 0):.0f}%", f"{m['mean_spearman'] or 0:.2f}"]
    if m.get("count_error") is not None:
        parts.append(f"{100 * (m['count_error'] or 0):.0f}%")
    return "/".join(parts)


if __name__ == "__main__":
    main()
