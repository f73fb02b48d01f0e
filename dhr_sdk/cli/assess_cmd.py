"""``dhr assess``: rank collections by how much wanted data they hold, with R(AD) beside."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.assessment.assess import (
    DEFAULT_ASSESSOR,
    PAPER_ASSESSOR,
    AssessmentReport,
    CollectionResult,
    make_assessor,
)
from dhr_sdk.assessment.assess import assess as assess_stores
from dhr_sdk.assessment.report import write_html
from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    json_option,
    params_option,
    quiet_option,
    render_table,
    shared_params,
)
from dhr_sdk.cli.requirement_options import requirement_options, resolve_requirement
from dhr_sdk.core.progress import Progress


def ranking_table(report: AssessmentReport) -> str:
    """The human table: the wanted estimate (when the ranking assessor makes one), the
    paper's R(AD), S and k/N, distinct matched images (and the model if several)."""
    multi = report.multiple_models
    has_estimate = any(r.assessment.estimate for r in report.results)
    level = next((r.assessment.estimate.level for r in report.results
                  if r.assessment.estimate), 0.9)
    head = ["#", "collection"]
    if has_estimate:
        head += ["wanted", f"{level:.0%} interval", "share"]
    head += ["R(AD)", "S", "k/N", "matched", "images"] + (["model"] if multi else [])
    rows = []
    for i, r in enumerate(report.results, 1):
        row: list[object] = [i, r.target.name]
        e = r.assessment.estimate
        if has_estimate:
            row += ([f"{e.count:.0f}", f"{e.low:.0f}-{e.high:.0f}", f"{e.share:.1%}"]
                    if e else ["-", "-", "-"])
        p = r.paper
        row += [f"{p.relevance:.4f}", f"{p.score:.4g}", f"{p.rank}/{p.total}", r.matches,
                r.target.importance.n_images]
        rows.append(row + ([r.target.model_id] if multi else []))
    return render_table(head, rows)


def explain_table(r: CollectionResult, report: AssessmentReport) -> str:
    """Per requirement image: weight, matched codes/images, mean score, contribution to S."""
    req = report.requirement
    rows = [[Path(req.label(m.index)).name, f"{m.weight:.3g}", m.matched_codes,
             m.matched_images, f"{m.mean_score:.4g}", f"{m.contribution:.4g}", m.radius_used]
            for m in r.paper.per_image]
    return render_table(["image", "W", "codes", "images", "mean score", "contribution",
                         "radius"], rows)


def model_note(report: AssessmentReport) -> str | None:
    if not report.multiple_models:
        return None
    return (f"note: the stores were encoded with {len(report.models)} different models; each "
            "store's own model encoded the requirement, so R values compare positions within "
            "each store's own importance list")


@click.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@requirement_options
@click.option("--assessor", default=DEFAULT_ASSESSOR, show_default=True,
              help=f"Assessor plugin that ranks the collections; the paper's R(AD) "
                   f"({PAPER_ASSESSOR}) is always shown beside it.")
@click.option("--top", type=int, default=6, show_default=True,
              help="Matched images listed per collection (JSON and report), nearest first.")
@click.option("--explain", is_flag=True,
              help="Also print, per collection, each requirement image's matches and "
                   "contribution to S (Eq. 1).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write a self-contained HTML report to this file.")
@params_option
@config_option
@json_option
@quiet_option
def assess(stores: tuple[Path, ...], requirements: tuple[Path, ...],
           requirement_codes: Path | None, weights: tuple[float, ...], assessor: str,
           top: int, explain: bool, report_path: Path | None, params: tuple[str, ...],
           config: Path | None, as_json: bool, quiet: bool) -> None:
    """Rank STORES by how much of each matches the requirement (read-only on the stores).

    -p KEY=VALUE goes to both assessors when both declare KEY (radius), -p
    NAME.KEY=VALUE to one: wanted-count (radius, weighting, level), importance-list
    (radius, no_match, max_radius, total, aggregate). 'dhr plugins -v' lists them.
    """
    req = resolve_requirement(requirements, requirement_codes, weights).requirement
    names = list(dict.fromkeys([assessor, PAPER_ASSESSOR]))
    values = shared_params("assessor", names, params, config)
    ranking = make_assessor(assessor, values[assessor])
    paper = ranking if assessor == PAPER_ASSESSOR else make_assessor(PAPER_ASSESSOR,
                                                                     values[PAPER_ASSESSOR])
    report = assess_stores(req, list(stores), ranking, paper=paper, top_images=top,
                           progress=Progress(quiet=quiet or as_json))
    if report_path is not None:
        write_html(report_path, [("requirement: " + req.describe(), report)])
    if as_json:
        data = report.to_json()
        data["report"] = str(report_path) if report_path else None
        emit_json(data)
        return
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"requirement: {req.describe()}")
    click.echo(f"ranked by: {ranking.name}" + ("" if paper is ranking else
                                                f"; R(AD) from {paper.name}"))
    click.echo(ranking_table(report))
    if explain:
        for r in report.results:
            click.echo(f"\n{r.target.name}: S = {r.paper.score:.4g}")
            click.echo(explain_table(r, report))
    note = model_note(report)
    if note:
        click.echo(note)
    for r in report.results:
        for w in r.warnings:
            click.echo(f"warning: {r.target.name}: {w}", err=True)
    if report_path is not None:
        click.echo(f"report: {report_path}")
