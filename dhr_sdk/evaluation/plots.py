"""Plots of an evaluation: PR curves by Hamming radius, precision@k, mAP vs bits.

Uses matplotlib's object API with the Agg canvas (no pyplot state, no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dhr_sdk.core.errors import DhrError
from dhr_sdk.evaluation.spec import EvalResult

PLOT_FORMATS = ("png", "svg")


def _ok(results: Sequence[EvalResult]) -> list[EvalResult]:
    return [r for r in results if r.metrics is not None]


def _save(fig: Figure, base: Path, formats: Sequence[str]) -> list[Path]:
    FigureCanvasAgg(fig)
    paths = []
    for fmt in formats:
        if fmt not in PLOT_FORMATS:
            raise DhrError(f"unknown plot format {fmt!r}; use {', '.join(PLOT_FORMATS)}")
        path = base.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(path)
    return paths


def pr_figure(results: Sequence[EvalResult], n_bits: int, title: str = "") -> Figure:
    """Precision vs recall, one point per Hamming radius 0..n_bits, one line per hasher."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    for r in _ok(results):
        if r.n_bits != n_bits or r.metrics is None:
            continue
        m = r.metrics
        ax.plot(m.pr_recall, m.pr_precision, marker=".", label=r.hasher)
        ax.plot([m.pr_recall[m.radius]], [m.pr_precision[m.radius]], "k+", ms=9)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1),
           title=f"{title} PR by Hamming radius, {n_bits} bits (+: radius 2)".strip())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def precision_at_k_figure(results: Sequence[EvalResult], n_bits: int, title: str = "") -> Figure:
    """Precision of the top k of the Hamming ranking vs k, one line per hasher."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    for r in _ok(results):
        if r.n_bits == n_bits and r.metrics is not None:
            ax.plot(r.metrics.k_values, r.metrics.precision_at_k, marker=".", label=r.hasher)
    ax.set(xlabel="k (top-k retrieved)", ylabel="precision@k", ylim=(0, 1),
           title=f"{title} precision@k, {n_bits} bits".strip())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def map_vs_bits_figure(results: Sequence[EvalResult], title: str = "") -> Figure:
    """mAP@K (first cut-off) and MAP@HD<=r against code length, one line per hasher."""
    ok = _ok(results)
    fig = Figure(figsize=(9, 4))
    axes = fig.subplots(1, 2)
    for name in dict.fromkeys(r.hasher for r in ok):
        rows = sorted((r for r in ok if r.hasher == name), key=lambda r: r.n_bits)
        bits = [r.n_bits for r in rows]
        first = [next(iter(r.metrics.map_at.values())) for r in rows if r.metrics]
        radius = [r.metrics.map_radius for r in rows if r.metrics]
        axes[0].plot(bits, first, marker="o", label=name)
        axes[1].plot(bits, radius, marker="o", label=name)
    all_bits = sorted({r.n_bits for r in ok})
    key = next(iter(ok[0].metrics.map_at)) if ok and ok[0].metrics else "K"
    rad = ok[0].metrics.radius if ok and ok[0].metrics else 2
    for ax, label in zip(axes, [f"mAP@{key}", f"MAP@HD≤{rad}"], strict=True):
        ax.set(xlabel="bits", ylabel=label, title=f"{title} {label}".strip(), ylim=(0, 1),
               xticks=all_bits)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def write_plots(results: Sequence[EvalResult], outdir: Path, formats: Sequence[str] = ("png",),
                title: str = "") -> list[Path]:
    """``pr_<b>bits``, ``precision_at_k_<b>bits`` per code length and ``map_vs_bits``."""
    paths: list[Path] = []
    ok = _ok(results)
    if not ok:
        return paths
    for b in sorted({r.n_bits for r in ok}):
        paths += _save(pr_figure(ok, b, title), outdir / f"pr_{b}bits", formats)
        paths += _save(precision_at_k_figure(ok, b, title), outdir / f"precision_at_k_{b}bits",
                       formats)
    paths += _save(map_vs_bits_figure(ok, title), outdir / "map_vs_bits", formats)
    return paths
