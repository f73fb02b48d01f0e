"""An evaluation run's report: JSON (the ``dhr eval --json`` contract), markdown table, files."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk._version import __version__
from dhr_sdk.evaluation import EvalResult, MetricSpec, SplitSpec

REPORT_FORMAT = "dhr-retrieval-eval"
REPORT_VERSION = 1


def environment() -> dict[str, str]:
    """Versions that can change the numbers."""
    return {"dhr_sdk": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform(terse=True)}


@dataclass
class EvalReport:
    """Results of several hashers × code lengths on one dataset split."""

    dataset: dict[str, Any]
    backbone: str
    backbone_params: dict[str, Any]
    split: SplitSpec
    split_sizes: dict[str, int]
    metric_spec: MetricSpec
    results: list[EvalResult]
    feature_seconds: float = 0.0
    command: str = ""
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    env: dict[str, str] = field(default_factory=environment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT, "version": REPORT_VERSION, "created": self.created,
            "command": self.command, "environment": self.env, "dataset": self.dataset,
            "backbone": {"name": self.backbone, "params": self.backbone_params,
                         "feature_seconds": self.feature_seconds},
            "protocol": {"seed": self.split.seed, "n_queries": self.split.n_queries,
                         "n_database": self.split.n_database, "n_train": self.split.n_train,
                         "train_from": self.split.train_from, "part": self.split.part, **{
                             f"actual_{k}": v for k, v in self.split_sizes.items()}},
            "metrics": self.metric_spec.to_dict(),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        if d.get("format") != REPORT_FORMAT or int(d.get("version", 0)) > REPORT_VERSION:
            raise ValueError("not a dhr retrieval evaluation report of a known version")
        p, m = d["protocol"], d["metrics"]
        split = SplitSpec(p["n_queries"], p["n_database"], p["n_train"], p["seed"],
                          p["train_from"], p.get("part", "test"))
        spec = MetricSpec(tuple(m["topk"]), m["radius"], tuple(m["k_values"]),
                          m["no_relevant"])
        sizes = {k[len("actual_"):]: v for k, v in p.items() if k.startswith("actual_")}
        return cls(d["dataset"], d["backbone"]["name"], d["backbone"]["params"], split, sizes,
                   spec, [EvalResult.from_dict(r) for r in d["results"]],
                   d["backbone"].get("feature_seconds", 0.0), d.get("command", ""),
                   d.get("created", ""), d.get("environment", {}))

    @property
    def bits(self) -> list[int]:
        return sorted({r.n_bits for r in self.results})

    @property
    def hashers(self) -> list[str]:
        return list(dict.fromkeys(r.hasher for r in self.results))

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Headers and rows of the results table (one row per hasher × bits)."""
        return results_table(self.results, self.metric_spec)

    def to_markdown(self) -> str:
        headers, rows = self.table()
        lines = [f"# Retrieval evaluation: {self.dataset['name']}", "",
                 *describe_protocol(self), "", markdown_table(headers, rows)]
        return "\n".join(lines) + "\n"

    def write(self, outdir: str | Path, plot_formats: tuple[str, ...] = ("png",)) -> list[Path]:
        """``results.json``, ``results.md`` and the plots into ``outdir``; returns the paths."""
        from dhr_sdk.eval_plots import write_plots

        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        js, md = out / "results.json", out / "results.md"
        js.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        md.write_text(self.to_markdown())
        return [js, md, *write_plots(self.results, out, plot_formats,
                                     title=self.dataset["name"])]


def results_table(results: list[EvalResult], spec: MetricSpec) -> tuple[list[str], list[list[Any]]]:
    """Rows: hasher, bits, mAP@K for each K, MAP/P/R@HD<=r, distinct database codes, times.

    ``codes`` (distinct codes among the database) exposes collapsed hash functions: with
    one code every item ties, and the tie rule gives chance-level mAP.
    """
    r_ = spec.radius
    keys = ["all" if k is None else str(k) for k in spec.topk]
    headers = ["hasher", "bits", *[f"mAP@{k}" for k in keys], f"MAP@HD≤{r_}",
               f"P@HD≤{r_}", f"R@HD≤{r_}", "codes", "fit s", "encode s"]
    rows: list[list[Any]] = []
    for res in results:
        m = res.metrics
        if m is None:
            rows.append([res.hasher, res.n_bits, f"skipped: {res.error}",
                         *[""] * (len(headers) - 3)])
            continue
        rows.append([res.hasher, res.n_bits, *[f"{m.map_at[k]:.4f}" for k in keys],
                     f"{m.map_radius:.4f}", f"{m.precision_radius:.4f}",
                     f"{m.recall_radius:.4f}", res.distinct_codes, f"{res.fit_seconds:.2f}",
                     f"{res.encode_seconds:.2f}"])
    return headers, rows


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def describe_protocol(report: EvalReport) -> list[str]:
    """Markdown bullet lines saying exactly how the numbers were produced."""
    d, s, m = report.dataset, report.split_sizes, report.metric_spec
    lines = [
        f"- data: `{d['name']}` ({d['n_images']} images, {d['n_classes']} classes, "
        f"{'multi' if d['multi_label'] else 'single'}-label); backbone `{report.backbone}` "
        f"{json.dumps(report.backbone_params, sort_keys=True)} ({d['feature_dim']}-d)",
        f"- {'development ' if report.split.part == 'dev' else ''}split (seed "
        f"{report.split.seed}): {s.get('n_queries')} queries, "
        f"{s.get('n_database')} database, {s.get('n_train')} training images "
        f"(drawn from the {'database' if report.split.train_from == 'database' else 'rest'})",
        f"- relevant = shares at least one label; ranking: {m.to_dict()['tie_rule']}",
        f"- mAP@K divides by the relevant items in the top K; MAP/P/R@HD≤{m.radius} use "
        f"d ≤ {m.radius} (a query retrieving nothing scores 0); queries without any "
        f"relevant item: {m.no_relevant}",
        "- times: wall-clock seconds on this machine (fit on the training set; encode = "
        "database + queries)",
    ]
    if report.command:
        lines.insert(0, f"- command: `{report.command}`")
    return lines
