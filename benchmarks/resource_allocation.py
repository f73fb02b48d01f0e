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

from dhr_sdk.allocation import RequirementResult
from dhr_sdk.demo import DemoConfig, DemoResult, demo
from dhr_sdk.progress import Progress

CONFIGS: list[dict[str, Any]] = [
    {"hasher": "itq", "hasher_params": {"n_bits": 32}},
    {"hasher": "itq", "hasher_params": {"n_bits": 64}},
    {"hasher": "pcah", "hasher_params": {"n_bits": 32}},
    {"hasher": "sh", "hasher_params": {"n_bits": 32}},
    {"hasher": "lsh", "hasher_params": {"n_bits": 32}},
]


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
        details.append(f"\n### {name}\n")
        for ev in result.evaluations:
            details.append(f"\n**{ev.spec.name}** (top-1 best: "
                           f"{'yes' if ev.top1_hit('dhr') else 'no'}, Spearman "
                           f"{ev.spearman('dhr'):.2f})\n")
            details.extend(requirement_table(ev))
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "resource-allocation.json").write_text(json.dumps(dump, indent=1))
    body = ["# Resource allocation on the built-in demo data (generated)", "",
            "Generated by `python benchmarks/resource_allocation.py`; see "
            "docs/assessment.md for the protocol. Sums over all 12 requirements for the "
            "collected numbers; hit rate and Spearman over the 10 single-class ones.", "",
            *summary, "", "## Per requirement (order (R) per collection)", *details]
    (args.results / "resource-allocation.md").write_text("\n".join(body) + "\n")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
