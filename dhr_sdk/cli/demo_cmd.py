"""``dhr demo``: the main job on the built-in real data, offline (see dhr_sdk.evaluation.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dhr_sdk.assessment.assess import DEFAULT_ASSESSOR
from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    feature_options,
    json_option,
    params_option,
    quiet_option,
    render_table,
)
from dhr_sdk.cli.pipeline_options import make_feature_options, split_params
from dhr_sdk.core.progress import Progress
from dhr_sdk.datasets.materialise import SOURCE_CLASS_MAPS
from dhr_sdk.evaluation.allocation import RequirementResult
from dhr_sdk.evaluation.demo import (
    DEFAULT_HASHER,
    DEFAULT_HASHER_PARAMS,
    DEFAULT_RANKER_PARAMS,
    METHOD_LABELS,
    METHODS,
    DemoConfig,
    DemoResult,
    demo,
    retrieval_value,
)


def _ranking(ev: RequirementResult, report: Any) -> str:
    """Ranked by the wanted estimate, with R(AD), retrieval-only and the truth beside it."""
    rows = []
    level = 0.9
    for i, r in enumerate(report.results, 1):
        e, p = r.assessment.estimate, r.paper
        j = ev.collections.index(r.target.name)
        level = e.level if e else level
        rows.append([i, r.target.name, f"{e.count:.0f}" if e else "-",
                     f"{e.low:.0f}-{e.high:.0f}" if e else "-", f"{p.relevance:.3f}",
                     f"{p.rank}/{p.total}", f"{retrieval_value(r):.0f}", _amount(ev.wanted[j]),
                     f"{ev.proportions[j]:.0%}"])
    return render_table(["#", "collection", "wanted", f"{level:.0%} interval", "R(AD)", "k/N",
                         "retrieval", "true wanted", "true share"], rows)


def _amount(x: float) -> str:
    """A wanted amount: whole images, or one decimal for a weighted requirement."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _summary(result: DemoResult) -> str:
    rows = []
    for ev in result.evaluations:
        err = ev.count_error(DEFAULT_ASSESSOR)
        rows.append([ev.spec.name,
                     "/".join("yes" if ev.top1_hit(m) else "no" for m in METHODS),
                     "/".join(f"{ev.spearman(m):.2f}" for m in METHODS),
                     "-" if err is None else f"{err:.0%}"]
                    + ["/".join(f"{x:.0f}" for x in ev.method(m).collected)
                       for m in (*METHODS, "random")])
    names = "/".join(METHOD_LABELS[m] for m in METHODS)
    return render_table(["requirement", f"top-1 best ({names})", "Spearman", "count error"]
                        + [f"{METHOD_LABELS[m]} top1/2/3" for m in (*METHODS, "random")], rows)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _method_json(ev: RequirementResult, method: str) -> dict[str, Any]:
    return {"top1_hit": ev.hit_rate(method) if method == "random" else ev.top1_hit(method),
            "spearman": ev.spearman(method), "count_error": ev.count_error(method),
            "coverage": ev.coverage(method)}


def demo_json(result: DemoResult, cfg: DemoConfig) -> dict[str, Any]:
    """The ``dhr demo --json`` contract (docs/assessment.md)."""
    reqs = []
    for (name, report), ev in zip(result.reports, result.evaluations, strict=True):
        data = report.to_json()
        ranking = []
        for r, res in zip(data["results"], report.results, strict=True):
            j = ev.collections.index(r["collection"])
            ranking.append({"collection": r["collection"], "estimate": r["estimate"],
                            "relevance": r["relevance"], "score": r["score"], "k": r["k"],
                            "n": r["n"], "matches": r["matches"],
                            "retrieval": retrieval_value(res), "wanted": ev.wanted[j],
                            "share": float(ev.proportions[j])})
        reqs.append({
            "name": name, "kind": ev.kind, "classes": ev.spec.classes, "ranking": ranking,
            "collected": {m.method: m.collected for m in ev.methods},
            "methods": {m: _method_json(ev, m) for m in (*METHODS, "random")},
            "top1_hit": ev.top1_hit(DEFAULT_ASSESSOR),
            "spearman": ev.spearman(DEFAULT_ASSESSOR),
            "count_error": ev.count_error(DEFAULT_ASSESSOR)})
    return {"out_dir": str(result.out_dir),
            "report": str(result.report_path) if result.report_path else None,
            "config": {"source": cfg.source, "hasher": cfg.hasher,
                       "hasher_params": cfg.hasher_params, "backbone": cfg.backbone,
                       "ranker": cfg.ranker, "ranker_params": cfg.ranker_params,
                       "assessor_params": cfg.assessor_params,
                       "per_collection": cfg.per_collection, "seed": cfg.seed},
            "ranked_by": DEFAULT_ASSESSOR,
            "requirements": reqs,
            "accuracy": {m: result.accuracy(m) for m in (*METHODS, "random")}}


@click.command("demo")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("dhr-demo"), show_default=True,
              help="Working folder: demo images, stores, model and report.html.")
@click.option("--hasher", default=DEFAULT_HASHER, show_default=True,
              help="Hasher plugin (the default runs with n_bits=32 unless -p is given; other "
                   "hashers use their own defaults).")
@click.option("--ranker", default="cpr", show_default=True, help="Ranker plugin.")
@click.option("--backbone", default="pixels", show_default=True, help="Backbone plugin.")
@click.option("--source", type=click.Choice(list(SOURCE_CLASS_MAPS)), default="animal-mnist",
              show_default=True, help="Built-in labeled images the collections are drawn "
              "from (mnist: the Table 3 classes as digits, docs/data.md).")
@click.option("--per-collection", type=int, default=None,
              help="Images per candidate collection [1000; 500 for mnist].")
@click.option("--requirement-images", type=int, default=20, show_default=True,
              help="Held-out requirement images per class.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the demo data.")
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
@params_option
@config_option
@feature_options
@json_option
@quiet_option
def demo_cmd(out_dir: Path, hasher: str, ranker: str, backbone: str, source: str,
             per_collection: int | None,
             requirement_images: int, seed: int, no_report: bool, params: tuple[str, ...],
             config: Path | None, batch_size: int, workers: int, device: str, as_json: bool,
             quiet: bool) -> None:
    """Run the product on the built-in real demo data and check it against the truth.

    Candidate collections CDS1..CDS8 (Table 3 of the paper on animal-mnist, or on the
    MNIST digits with --source mnist), one hash model for all, every store built;
    requirements: each class, dog 0.7 + cat 0.3, and the zoo. Collections are ranked by
    the wanted-count estimate; R(AD) and retrieval-only are shown beside it, and every
    method is checked against the truth. -p KEY=VALUE sets hasher params (prefix graph.,
    ranker., assessor., backbone.; assessor.KEY goes to both assessors that declare it,
    assessor.wanted-count.KEY or assessor.importance-list.KEY to one).
    """
    kinds = split_params(params, config, "hasher")
    hasher_params = kinds["hasher"] if (kinds["hasher"] or hasher != DEFAULT_HASHER) \
        else dict(DEFAULT_HASHER_PARAMS)
    cfg = DemoConfig(hasher=hasher, hasher_params=hasher_params, backbone=backbone,
                     backbone_params=kinds["backbone"], builder_params=kinds["graph_builder"],
                     ranker=ranker, ranker_params=kinds["ranker"] or dict(DEFAULT_RANKER_PARAMS),
                     assessor_params=kinds["assessor"], source=source,
                     per_collection=per_collection or (500 if source == "mnist" else 1000),
                     n_requirement=requirement_images, seed=seed)
    result = demo(out_dir, cfg, report=not no_report,
                  options=make_feature_options(batch_size, workers, device),
                  progress=Progress(quiet=quiet or as_json))
    if as_json:
        emit_json(demo_json(result, cfg))
        return
    for (name, report), ev in zip(result.reports, result.evaluations, strict=True):
        click.echo(f"\nrequirement: {name} ({len(report.requirement.paths)} images)")
        click.echo(_ranking(ev, report))
    click.echo("\nresource allocation against the ground truth (wanted images collected):")
    click.echo(_summary(result))
    acc = {m: result.accuracy(m) for m in (*METHODS, "random")}
    n = acc[DEFAULT_ASSESSOR]["requirements"]
    click.echo(f"\nsingle-class requirements ({n}), ranked by the wanted estimate: the "
               f"top-1 collection is the best in {_pct(acc[DEFAULT_ASSESSOR]['top1_hit_rate'])}"
               f", mean Spearman(value, true share) "
               f"{_num(acc[DEFAULT_ASSESSOR]['mean_spearman'])}, count error "
               f"{_pct(acc[DEFAULT_ASSESSOR]['count_error'])}, interval coverage "
               f"{_pct(acc[DEFAULT_ASSESSOR]['coverage'])}")
    for m in (*METHODS[1:], "random"):
        click.echo(f"  {METHOD_LABELS[m]}: top-1 {_pct(acc[m]['top1_hit_rate'])}"
                   + (" (expected)" if m == "random" else "")
                   + f", Spearman {_num(acc[m]['mean_spearman'])}")
    if result.report_path:
        click.echo(f"report: {result.report_path}")
