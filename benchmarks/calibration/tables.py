"""The calibration benchmark's generated page: markdown tables over the rows' metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.evaluation.allocation import RequirementResult
from dhr_sdk.evaluation.demo import DEFAULT_HASHER, DEFAULT_HASHER_PARAMS

from .rows import (
    COUNTERS,
    FAST,
    GROUPS,
    LABELS,
    METHODS,
    PAPER,
    RANDOM,
    RETRIEVAL,
    TARGETS,
    WANTED,
    WANTED_IMP,
    aggregate,
    row_key,
    row_results,
    values_over_seeds,
)
from .sets import SETS

MARKER = "## Measured (generated below this line)"
PAGE = "assessment-calibration"


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
