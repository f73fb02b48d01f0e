"""Resource-allocation experiment (framework paper sections 6.3-6.4, Tables 3-4).

One command: ``python benchmarks/resource_allocation.py [--out DIR] [--config JSON ...]``.
On the built-in demo data (CDS1..CDS8: Table 3's structure on animal-mnist, held-out
requirement images), for each hasher configuration: one model fitted on all candidates,
every store built, and per requirement (each class, dog 0.7 + cat 0.3, zoo) the order and
R of the collections, compared with random selection (mean of 100 seeded orders) and a
retrieval-only baseline (number of matches within the radius, no importance list):
collected wanted images in the top-1/2/3 picks, top-1 hit rate and Spearman(R, true share).
Writes ``docs/results/resource-allocation.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from PIL import Image

from dhr_sdk.core.progress import Progress
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.datasets.multilabel import compose_multilabel
from dhr_sdk.evaluation.allocation import RequirementResult, RequirementSpec
from dhr_sdk.evaluation.demo import DemoConfig, DemoResult, assess_demo, build_demo_stores, demo

MARKER = "## Measured (generated below this line)"
CONFIGS: list[dict[str, Any]] = [
    {"hasher": "itq", "hasher_params": {"n_bits": 32}},
    {"hasher": "itq", "hasher_params": {"n_bits": 64}},
    {"hasher": "pcah", "hasher_params": {"n_bits": 32}},
    {"hasher": "sh", "hasher_params": {"n_bits": 32}},
    {"hasher": "lsh", "hasher_params": {"n_bits": 32}},
]


#: Table 6 (VOC2007) mapped onto animal-mnist tiles: car -> cow, person -> horse,
#: aeroplane -> bird, dog and sheep kept; giraffe and zebra tiles are background in all.
TABLE6_POOLS = {"VDS1": ("cow", "horse"), "VDS2": ("dog",), "VDS3": ("cow",),
                "VDS4": ("dog", "horse"), "VDS5": ("cow", "bird"), "VDS6": ("dog", "sheep"),
                "VDS7": ("cow", "dog")}
BACKGROUND = ("giraffe", "zebra")
PAIRS = (("horse", "cow"), ("horse", "dog"))


def _save(folder: Path, images: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:06d}.png")


def _counts(labels: np.ndarray, classes: list[str]) -> dict[str, int]:
    counts = {c: int(labels[:, k].sum()) for k, c in enumerate(classes)}
    for a, b in PAIRS:
        both = (labels[:, classes.index(a)] == 1) & (labels[:, classes.index(b)] == 1)
        counts[f"{a}+{b}"] = int(both.sum())
    return counts


def _canvases(images: np.ndarray, y: np.ndarray, classes: list[str], rows: np.ndarray,
              use: tuple[str, ...], n: int, seed: int, cooccur: tuple[str, str] | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Canvases of 1-3 tiles drawn only from the classes ``use`` (labels in all classes)."""
    ks = [classes.index(c) for c in use]
    sel = rows[np.isin(y[rows], ks)]
    sub_y = np.searchsorted(np.array(sorted(ks)), y[sel])
    names = [classes[k] for k in sorted(ks)]
    imgs, sub = compose_multilabel(images[sel], sub_y, names, n=n, seed=seed, grid=2,
                                   min_objects=1, max_objects=3, cooccur=cooccur)
    labels = np.zeros((n, len(classes)), dtype=np.uint8)
    labels[:, sorted(ks)] = sub
    return imgs, labels


def materialise_multilabel(out: Path, n: int, n_req: int, seed: int = 0) -> dict[str, Any]:
    """Multi-label collections like Table 6 (canvases of 1-3 real tiles from class pools,
    horse -> cow co-occurrence) and held-out requirement canvases; returns a manifest."""
    data = load_demo_arrays("animal-mnist")
    classes, y = list(data.class_names), data.class_index
    rng = np.random.default_rng(seed)
    held = np.concatenate([rng.permutation(np.flatnonzero(y == k))[:60]
                           for k in range(len(classes))])
    pool = np.setdiff1d(np.arange(y.size), held)
    manifest: dict[str, Any] = {"class_names": classes, "collections": [], "requirements": []}
    for i, (name, wanted) in enumerate(TABLE6_POOLS.items()):
        co = ("horse", "cow") if {"horse", "cow"} <= set(wanted) else None
        imgs, labels = _canvases(data.images, y, classes, pool, (*wanted, *BACKGROUND), n,
                                 seed + 10 + i, co)
        _save(out / "collections" / name, imgs)
        manifest["collections"].append({"name": name, "path": f"collections/{name}",
                                        "n_images": n, "class_counts": _counts(labels, classes)})
    for j, target in enumerate([("cow",), ("dog",), *PAIRS]):
        imgs, labels = _canvases(data.images, y, classes, held, target, n_req * 10,
                                 seed + 50 + j, None)
        has = np.all(labels[:, [classes.index(c) for c in target]] == 1, axis=1)
        name = "+".join(target)
        _save(out / "requirements" / name, imgs[has][:n_req])
        manifest["requirements"].append({"path": f"requirements/{name}",
                                         "target": list(target)})
    return manifest


def run_multilabel(out: Path, cfg: dict[str, Any], n: int) -> DemoResult:
    """Tables 6-7 protocol: single-class and pair requirements on the multi-label sets."""
    import shutil

    shutil.rmtree(out / "data", ignore_errors=True)
    manifest = materialise_multilabel(out / "data", n, 10)
    config = DemoConfig(**cfg)
    stores = build_demo_stores(out, manifest, config)
    specs = [RequirementSpec(c, {c: 1.0}) for c in ("cow", "dog", "horse+cow", "horse+dog")]
    reports, evaluations = assess_demo(out, manifest, stores, config, specs=specs)
    return DemoResult(out, reports, evaluations, None)


def label(cfg: dict[str, Any]) -> str:
    extra = {k: v for k, v in cfg.items() if k not in ("hasher", "hasher_params") and v}
    bits = cfg.get("hasher_params", {}).get("n_bits", "")
    return f"{cfg['hasher']}-{bits}" + (f" {json.dumps(extra, sort_keys=True)}" if extra else "")


def requirement_table(ev: RequirementResult) -> list[str]:
    """Order (R) per collection and collected numbers, like Table 4."""
    head = ("| method | " + " | ".join(ev.collections) + " | top1 | top2 | top3 |")
    lines = [head, "|" + "---|" * (len(ev.collections) + 4)]
    for m in ev.methods:
        if m.order:
            pos = {c: i + 1 for i, c in enumerate(m.order)}
            cells = [f"{pos[j]} ({m.values[j]:.3g})" for j in range(len(ev.collections))]
        else:
            cells = ["-"] * len(ev.collections)
        lines.append(f"| {m.method} | " + " | ".join(cells) + " | "
                     + " | ".join(f"{x:.0f}" for x in m.collected) + " |")
    lines.append("| wanted | " + " | ".join(f"{w:g}" for w in ev.wanted) + " | | | |")
    return lines


def summary_row(name: str, result: DemoResult, seconds: float) -> str:
    d, r = result.accuracy("dhr"), result.accuracy("retrieval")
    top3 = {m: sum(e.method(m).collected[2] for e in result.evaluations)
            for m in ("dhr", "retrieval", "random")}
    return (f"| {name} | {d['top1_hit_rate']:.0%} | {d['mean_spearman']:.2f} | "
            f"{r['top1_hit_rate']:.0%} | {r['mean_spearman']:.2f} | {top3['dhr']:.0f} | "
            f"{top3['retrieval']:.0f} | {top3['random']:.0f} | {seconds:.0f} |")


def to_json(result: DemoResult) -> list[dict[str, Any]]:
    return [{"requirement": e.spec.name, "classes": e.spec.classes,
             "collections": e.collections, "wanted": e.wanted,
             "methods": {m.method: {"values": m.values, "order": m.order,
                                    "collected": m.collected} for m in e.methods},
             "top1_hit": e.top1_hit("dhr"), "spearman": e.spearman("dhr")}
            for e in result.evaluations]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/resource-allocation"))
    ap.add_argument("--results", type=Path, default=Path("docs/results"))
    ap.add_argument("--config", action="append", default=None,
                    help="JSON of DemoConfig fields (repeatable); default: the built-in list")
    ap.add_argument("--per-collection", type=int, default=1000)
    ap.add_argument("--multilabel-size", type=int, default=800,
                    help="Canvases per multi-label collection (0: skip Tables 6-7)")
    args = ap.parse_args()
    configs = [json.loads(c) for c in args.config] if args.config else CONFIGS

    summary = ["| configuration | DHR top-1 hit | DHR Spearman | retrieval top-1 hit | "
               "retrieval Spearman | DHR top-3 collected | retrieval top-3 | random top-3 | "
               "seconds |", "|---|---|---|---|---|---|---|---|---|"]
    details: list[str] = []
    dump: dict[str, Any] = {}
    for cfg in configs:
        name = label(cfg)
        start = time.perf_counter()
        result = demo(args.out, DemoConfig(per_collection=args.per_collection, **cfg),
                      report=False, progress=Progress(quiet=True))
        seconds = time.perf_counter() - start
        summary.append(summary_row(name, result, seconds))
        print(summary[-1], flush=True)
        dump[name] = to_json(result)
        details.append(f"\n#### {name}\n")
        for ev in result.evaluations:
            details.append(f"\n**{ev.spec.name}** (top-1 best: "
                           f"{'yes' if ev.top1_hit('dhr') else 'no'}, Spearman "
                           f"{ev.spearman('dhr'):.2f})\n")
            details.extend(requirement_table(ev))
    if args.multilabel_size:
        start = time.perf_counter()
        ml = run_multilabel(args.out / "multilabel", configs[0], args.multilabel_size)
        seconds = time.perf_counter() - start
        name = label(configs[0])
        dump[f"multilabel {name}"] = to_json(ml)
        details.append(f"\n### Multi-label collections (Tables 6-7 structure), {name}, "
                       f"{seconds:.0f} s\n")
        for ev in ml.evaluations:
            details.append(f"\n**{ev.spec.name}** (top-1 best: "
                           f"{'yes' if ev.top1_hit('dhr') else 'no'}, Spearman "
                           f"{ev.spearman('dhr'):.2f})\n")
            details.extend(requirement_table(ev))
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "resource-allocation.json").write_text(json.dumps(dump, indent=1))
    body = [MARKER, "", "Generated by `python benchmarks/resource_allocation.py`. Collected "
            "numbers are sums over all 12 requirements; hit rate and Spearman over the 10 "
            "single-class ones.", "", *summary, "",
            "### Per requirement: order (R or matches) per collection", *details]
    page = args.results / "resource-allocation.md"
    head = page.read_text().split(MARKER)[0] if page.exists() else "# Resource allocation\n\n"
    page.write_text(head + "\n".join(body) + "\n")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
