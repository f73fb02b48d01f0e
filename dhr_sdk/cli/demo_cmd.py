"""``dhr demo``: the main job on the built-in real data, offline (see dhr_sdk.evaluation.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    json_option,
    params_option,
    quiet_option,
    render_table,
)
from dhr_sdk.cli.pipeline_options import feature_options, make_feature_options, split_params
from dhr_sdk.core.progress import Progress
from dhr_sdk.evaluation.allocation import RequirementResult
from dhr_sdk.evaluation.demo import (
    DEFAULT_HASHER,
    DEFAULT_HASHER_PARAMS,
    DEFAULT_RANKER_PARAMS,
    DemoConfig,
    DemoResult,
    demo,
)


def _ranking(ev: RequirementResult, report: Any) -> str:
    rows = []
    for i, r in enumerate(report.results, 1):
        a = r.assessment
        j = ev.collections.index(r.target.name)
        rows.append([i, r.target.name, f"{a.relevance:.3f}", f"{a.score:.4g}",
                     f"{a.rank}/{a.total}", r.matches, f"{ev.wanted[j]:g}",
                     f"{ev.proportions[j]:.0%}"])
    return render_table(["#", "collection", "R", "S", "k/N", "matches", "wanted", "share"],
                        rows)


def _summary(result: DemoResult) -> str:
    rows = []
    for ev in result.evaluations:
        rows.append([ev.spec.name, "yes" if ev.top1_hit("dhr") else "no",
                     f"{ev.spearman('dhr'):.2f}"]
                    + ["/".join(f"{x:g}" for x in ev.method(m).collected)
                       for m in ("dhr", "retrieval")]
                    + ["/".join(f"{x:.0f}" for x in ev.method("random").collected)])
    return render_table(["requirement", "top-1 best", "Spearman", "DHR top1/2/3",
                         "retrieval top1/2/3", "random top1/2/3"], rows)


def demo_json(result: DemoResult, cfg: DemoConfig) -> dict[str, Any]:
    """The ``dhr demo --json`` contract (docs/assessment.md)."""
    reqs = []
    for (name, report), ev in zip(result.reports, result.evaluations, strict=True):
        data = report.to_json()
        reqs.append({
            "name": name, "classes": ev.spec.classes,
            "ranking": [{"collection": r["collection"], "relevance": r["relevance"],
                         "score": r["score"], "k": r["k"], "n": r["n"], "matches": r["matches"],
                         "wanted": ev.wanted[ev.collections.index(r["collection"])]}
                        for r in data["results"]],
            "collected": {m.method: m.collected for m in ev.methods},
            "top1_hit": ev.top1_hit("dhr"), "spearman": ev.spearman("dhr")})
    return {"out_dir": str(result.out_dir),
            "report": str(result.report_path) if result.report_path else None,
            "config": {"hasher": cfg.hasher, "hasher_params": cfg.hasher_params,
                       "backbone": cfg.backbone, "ranker": cfg.ranker,
                       "ranker_params": cfg.ranker_params,
                       "assessor_params": cfg.assessor_params,
                       "per_collection": cfg.per_collection, "seed": cfg.seed},
            "requirements": reqs,
            "accuracy": {"dhr": result.accuracy("dhr"),
                         "retrieval": result.accuracy("retrieval")}}


@click.command("demo")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("dhr-demo"), show_default=True,
              help="Working folder: demo images, stores, model and report.html.")
@click.option("--hasher", default=DEFAULT_HASHER, show_default=True,
              help="Hasher plugin (the default runs with n_bits=32 unless -p is given; other "
                   "hashers use their own defaults).")
@click.option("--ranker", default="cpr", show_default=True, help="Ranker plugin.")
@click.option("--backbone", default="pixels", show_default=True, help="Backbone plugin.")
@click.option("--per-collection", type=int, default=1000, show_default=True,
              help="Images per candidate collection.")
@click.option("--requirement-images", type=int, default=20, show_default=True,
              help="Held-out requirement images per class.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the demo data.")
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
@params_option
@config_option
@feature_options
@json_option
@quiet_option
def demo_cmd(out_dir: Path, hasher: str, ranker: str, backbone: str, per_collection: int,
             requirement_images: int, seed: int, no_report: bool, params: tuple[str, ...],
             config: Path | None, batch_size: int, workers: int, device: str, as_json: bool,
             quiet: bool) -> None:
    """Run the product on the built-in real demo data and check it against the truth.

    Candidate collections CDS1..CDS8 (Table 3 of the paper on animal-mnist), one hash
    model for all, every store built; requirements: each class, dog 0.7 + cat 0.3, and
    the zoo. -p KEY=VALUE sets hasher params (prefix graph., ranker., assessor., backbone.).
    """
    kinds = split_params(params, config, "hasher")
    hasher_params = kinds["hasher"] if (kinds["hasher"] or hasher != DEFAULT_HASHER) \
        else dict(DEFAULT_HASHER_PARAMS)
    cfg = DemoConfig(hasher=hasher, hasher_params=hasher_params, backbone=backbone,
                     backbone_params=kinds["backbone"], builder_params=kinds["graph_builder"],
                     ranker=ranker, ranker_params=kinds["ranker"] or dict(DEFAULT_RANKER_PARAMS),
                     assessor_params=kinds["assessor"], per_collection=per_collection,
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
    acc, base = result.accuracy("dhr"), result.accuracy("retrieval")
    click.echo(f"\nsingle-class requirements: top-1 collection is the best in "
               f"{acc['top1_hit_rate']:.0%}, mean Spearman(R, true share) = "
               f"{acc['mean_spearman']:.2f} (retrieval-only baseline: "
               f"{base['top1_hit_rate']:.0%}, {base['mean_spearman']:.2f})")
    if result.report_path:
        click.echo(f"report: {result.report_path}")
