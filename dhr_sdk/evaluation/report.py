"""An evaluation run's report: JSON (the ``dhr eval --json`` contract), markdown table, files.

Two kinds (``"kind"`` in the JSON): ``split`` — hashers fitted and measured on one seeded
split of a dataset (``protocol``); ``model`` — one fitted model measured on given queries and
database (``model`` and ``sources`` instead of a split).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk._version import __version__
from dhr_sdk.evaluation.spec import EvalResult, MetricSpec
from dhr_sdk.evaluation.split import SplitSpec

REPORT_FORMAT = "dhr-retrieval-eval"
REPORT_VERSION = 1


def environment() -> dict[str, str]:
    """Versions and the processor, which can change the numbers (deep hashers' training
    amplifies the last bits of the CPU's math: the same code and seed differ by machine)."""
    env = {"dhr_sdk": __version__, "python": platform.python_version(),
           "numpy": np.__version__, "platform": platform.platform(terse=True),
           "cpu": _cpu_model()}
    with contextlib.suppress(metadata.PackageNotFoundError):
        env["torch"] = metadata.version("torch")  # without importing it
    return env


def _cpu_model() -> str:
    """The processor's name and its number of logical CPUs (Linux: from /proc/cpuinfo)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return f"{platform.processor() or platform.machine()} x{os.cpu_count()}"
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    return f"{names[0] if names else platform.machine()} x{os.cpu_count()}"


@dataclass
class EvalReport:
    """Results of several hashers × code lengths on one dataset split (``split`` set), or of
    one fitted model on given queries and database (``split`` None; ``model`` describes the
    model, ``sources`` each side; ``split_sizes`` holds the two sizes)."""

    dataset: dict[str, Any]
    backbone: str
    backbone_params: dict[str, Any]
    split: SplitSpec | None
    split_sizes: dict[str, int]
    metric_spec: MetricSpec
    results: list[EvalResult]
    feature_seconds: float = 0.0
    command: str = ""
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    env: dict[str, str] = field(default_factory=environment)
    model: dict[str, Any] | None = None
    sources: dict[str, dict[str, Any]] | None = None
    warnings: list[str] = field(default_factory=list)
    order_seed: int = 0

    @property
    def kind(self) -> str:
        """``"split"`` (hashers fitted on a split) or ``"model"`` (a fitted model as given)."""
        return "split" if self.split is not None else "model"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": REPORT_FORMAT, "version": REPORT_VERSION, "kind": self.kind,
            "created": self.created, "command": self.command, "environment": self.env,
            "dataset": self.dataset,
            "backbone": {"name": self.backbone, "params": self.backbone_params,
                         "feature_seconds": self.feature_seconds}}
        if self.split is not None:
            out["protocol"] = {
                "seed": self.split.seed, "n_queries": self.split.n_queries,
                "n_database": self.split.n_database, "n_train": self.split.n_train,
                "train_from": self.split.train_from, "part": self.split.part,
                **{f"actual_{k}": v for k, v in self.split_sizes.items()}}
        else:
            out.update(model=self.model, sources=self.sources,
                       database_order_seed=self.order_seed, warnings=list(self.warnings))
        out.update(metrics=self.metric_spec.to_dict(),
                   results=[r.to_dict() for r in self.results])
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        if d.get("format") != REPORT_FORMAT or int(d.get("version", 0)) > REPORT_VERSION:
            raise ValueError("not a dhr retrieval evaluation report of a known version")
        m = d["metrics"]
        spec = MetricSpec(tuple(m["topk"]), m["radius"], tuple(m["k_values"]),
                          m["no_relevant"])
        split: SplitSpec | None = None
        if d.get("kind", "split") == "split":
            p = d["protocol"]
            split = SplitSpec(p["n_queries"], p["n_database"], p["n_train"], p["seed"],
                              p["train_from"], p.get("part", "test"))
            sizes = {k[len("actual_"):]: v for k, v in p.items() if k.startswith("actual_")}
        else:
            sizes = {f"n_{side}": int(src["n_images"]) for side, src in d["sources"].items()}
        return cls(d["dataset"], d["backbone"]["name"], d["backbone"]["params"], split, sizes,
                   spec, [EvalResult.from_dict(r) for r in d["results"]],
                   d["backbone"].get("feature_seconds", 0.0), d.get("command", ""),
                   d.get("created", ""), d.get("environment", {}), d.get("model"),
                   d.get("sources"), list(d.get("warnings", [])),
                   int(d.get("database_order_seed", 0)))

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
        title = (f"# Retrieval evaluation: {self.dataset['name']}" if self.split is not None
                 else f"# Retrieval evaluation of model {self.model_id}: "
                      f"{self.dataset['name']}")
        lines = [title, "", *describe_protocol(self), "", markdown_table(headers, rows)]
        return "\n".join(lines) + "\n"

    @property
    def model_id(self) -> str:
        """The evaluated model's fingerprint (empty for a split report)."""
        return str((self.model or {}).get("fingerprint", ""))

    def write(self, outdir: str | Path, plot_formats: tuple[str, ...] = ("png",)) -> list[Path]:
        """``results.json``, ``results.md`` and the plots into ``outdir``; returns the paths."""
        from dhr_sdk.evaluation.plots import write_plots

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
    data = (f"- data: `{d['name']}` ({d['n_images']} images, {d['n_classes']} classes, "
            f"{'multi' if d['multi_label'] else 'single'}-label); backbone `{report.backbone}` "
            f"{json.dumps(report.backbone_params, sort_keys=True)} ({d['feature_dim']}-d)")
    if report.split is None:
        return _describe_given(report, data)
    lines = [
        data,
        f"- {'development ' if report.split.part == 'dev' else ''}split (seed "
        f"{report.split.seed}): {s.get('n_queries')} queries, "
        f"{s.get('n_database')} database, {s.get('n_train')} training images "
        f"(drawn from the {'database' if report.split.train_from == 'database' else 'rest'})",
        *_describe_metrics(m),
        "- times: wall-clock seconds on this machine (fit on the training set; encode = "
        "database + queries)",
    ]
    if report.command:
        lines.insert(0, f"- command: `{report.command}`")
    return lines


def _describe_metrics(m: MetricSpec) -> list[str]:
    return [f"- relevant = shares at least one label; ranking: {m.to_dict()['tie_rule']}",
            f"- mAP@K divides by the relevant items in the top K; MAP/P/R@HD≤{m.radius} use "
            f"d ≤ {m.radius} (a query retrieving nothing scores 0); queries without any "
            f"relevant item: {m.no_relevant}"]


CODES_FROM = {"images": "encoded from the images", "store codes": "the store's codes (made "
              "by this model)", "store features": "the store's cached features, encoded now"}


def _describe_given(report: EvalReport, data: str) -> list[str]:
    """The protocol lines of a fitted model's evaluation: model, sources, no split."""
    md = report.model or {}
    lines = [f"- command: `{report.command}`"] if report.command else []
    lines += [
        f"- model `{md.get('fingerprint')}`"
        + (f" ({md['path']})" if md.get("path") else "")
        + f": `{md.get('hasher')}`, {md.get('n_bits')} bits, "
        f"{json.dumps(md.get('params', {}), sort_keys=True)}; evaluated as given (no split "
        f"drawn, nothing fitted; database ranked in random order, seed {report.order_seed})",
        data]
    for side, src in (report.sources or {}).items():
        labels = f"labels {src['labels_file']}" if src.get("labels_file") else "its own labels"
        lines.append(
            f"- {side}: `{src['path']}` ({src['kind']}, {labels}): {src['n_images']} images, "
            f"{len(src['label_names'])} labels, {src['unlabeled_images']} unlabeled, "
            f"{src['skipped']} skipped; codes: {CODES_FROM.get(src['codes_from'], '?')}")
    shared = report.dataset.get("shared_labels", [])
    lines.append(f"- labels shared by queries and database: {len(shared)} of "
                 f"{report.dataset['n_classes']}")
    lines += [*_describe_metrics(report.metric_spec),
              "- times: wall-clock seconds on this machine (encode = hasher on the features "
              "of database + queries; backbone features apart)"]
    lines += [f"- **warning**: {w}" for w in report.warnings]
    return lines
