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
rows; the hand-written head above the marker is kept. Exploratory settings (other assessor
params, another backbone) go to a page of their own::

    python benchmarks/resource_allocation.py --variant ssl --backbone ssl \
        --backbone-params '{"weights": "backbone.h5"}'

The data sets, the results file and the page's tables live in ``benchmarks/calibration/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from calibration.rows import (
    FAST,
    HASHERS,
    LABELS,
    METHODS,
    WANTED,
    WANTED_IMP,
    locked,
    merge_row,
    read_rows,
    row_key,
    row_metrics,
)
from calibration.sets import SETS, data_for, image_labels, image_weights
from calibration.tables import PAGE, render

from dhr_sdk.assessment.assess import make_assessor
from dhr_sdk.core.registry import get_registry
from dhr_sdk.evaluation.allocation import RequirementResult
from dhr_sdk.evaluation.demo import assess_demo, build_demo_stores, demo_assessors


def hasher_params(hasher: str, bits: int, seed: int, extra: dict[str, Any]) -> dict[str, Any]:
    fields = get_registry().get("hasher", hasher).cls.Params.model_fields
    params: dict[str, Any] = {"n_bits": bits, **extra}
    if "seed" in fields:
        params["seed"] = seed
    return params


def run_one(set_name: str, hasher: str, bits: int, seed: int, out: Path,
            extra: dict[str, Any], keep: bool, assessor_params: dict[str, Any] | None = None,
            variant: str = "", backbone: tuple[str, dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    """Build the stores once and evaluate every method on them; one results row.
    ``backbone`` (name, params) replaces the demo's pixels backbone."""
    data, manifest, specs, base = data_for(set_name, seed, out)
    params = hasher_params(hasher, bits, seed, extra)
    cfg = dataclasses.replace(base, hasher=hasher, hasher_params=params,
                              assessor_params=dict(assessor_params or {}))
    if backbone is not None:
        cfg = dataclasses.replace(cfg, backbone=backbone[0], backbone_params=backbone[1])
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
            "hasher_params": params, "backbone": cfg.backbone,
            "backbone_params": cfg.backbone_params, "assessor_params": cfg.assessor_params,
            "build_seconds": round(built - start, 2),
            "assess_seconds": round(done - built, 2),
            "collections": len(manifest["collections"]), "requirements": requirements}


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
    ap.add_argument("--backbone", default=None,
                    help="backbone plugin instead of the demo's pixels; use with --variant")
    ap.add_argument("--backbone-params", type=json.loads, default={},
                    help="JSON params of --backbone, e.g. '{\"weights\": \"ssl.h5\"}'")
    ap.add_argument("--variant", default="",
                    help=f"write {PAGE}-VARIANT.md/.json instead (exploratory settings)")
    ap.add_argument("--force", action="store_true", help="re-run rows already in the JSON")
    ap.add_argument("--keep-stores", action="store_true", help="keep each configuration's stores")
    ap.add_argument("--render", action="store_true", help="only regenerate the page")
    args = ap.parse_args(argv)
    if args.assessor_params and not args.variant:
        raise SystemExit("--assessor-params changes the methods: give it a --variant name")
    if (args.backbone or args.backbone_params) and not args.variant:
        raise SystemExit("--backbone changes the features: give it a --variant name")
    backbone = (args.backbone or "pixels", args.backbone_params) \
        if args.backbone or args.backbone_params else None
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
                          args.assessor_params, args.variant, backbone)
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
