"""``dhr assess``: rank collections by their relevance R(AD) to a requirement."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.assessment import (
    AssessmentReport,
    CollectionResult,
    load_requirement,
    load_requirement_codes,
    make_assessor,
)
from dhr_sdk.assessment import assess as assess_stores
from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    json_option,
    params_option,
    plugin_params,
    quiet_option,
    render_table,
)
from dhr_sdk.progress import Progress
from dhr_sdk.report import write_html


def ranking_table(report: AssessmentReport) -> str:
    """The human table: position, collection, R, S, k/N, matches (and model if several)."""
    multi = report.multiple_models
    headers = ["#", "collection", "R", "S", "k/N", "matches"] + (["model"] if multi else [])
    rows = []
    for i, r in enumerate(report.results, 1):
        a = r.assessment
        row = [i, r.target.name, f"{a.relevance:.4f}", f"{a.score:.4g}", f"{a.rank}/{a.total}",
               r.matches]
        rows.append(row + ([r.target.model_id] if multi else []))
    return render_table(headers, rows)


def explain_table(r: CollectionResult, paths: list[Path]) -> str:
    """Per requirement image: weight, matched codes/images, mean score, contribution."""
    rows = [[paths[m.index].name, f"{m.weight:.3g}", m.matched_codes, m.matched_images,
             f"{m.mean_score:.4g}", f"{m.contribution:.4g}", m.radius_used]
            for m in r.assessment.per_image]
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
@click.option("-r", "--requirement", "requirements", multiple=True,
              type=click.Path(path_type=Path),
              help="Requirement image file or folder of images (repeatable).")
@click.option("--requirement-codes", "requirement_codes", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Instead of images: requirement hash codes (.npy/.npz as for "
                   "'dhr import-codes'), for stores of imported codes that have no model.")
@click.option("-w", "--weight", "weights", multiple=True, type=float,
              help="Weight of each --requirement (or of each code), in order (default: "
                   "equal); a folder's weight is shared equally by its images.")
@click.option("--assessor", default="importance-list", show_default=True,
              help="Assessor plugin.")
@click.option("--top", type=int, default=6, show_default=True,
              help="Matched images listed per collection (JSON and report).")
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
    """Rank STORES by the relevance R(AD) of the requirement (read-only on the stores).

    -p KEY=VALUE sets assessor params (radius, no_match, max_radius, total, top_matches).
    """
    if bool(requirements) == (requirement_codes is not None):
        raise click.UsageError("give the requirement as images (-r PATH ...) or as codes "
                               "(--requirement-codes FILE), not both")
    if requirement_codes is not None:
        req = load_requirement_codes(requirement_codes, list(weights) or None)
        requirements = (requirement_codes,)
        weights = ()
    else:
        req = load_requirement(list(requirements), list(weights) or None)
    asr = make_assessor(assessor, plugin_params("assessor", params, config))
    report = assess_stores(req, list(stores), asr, top_images=top,
                           progress=Progress(quiet=quiet or as_json))
    if report_path is not None:
        write_html(report_path, [("requirement: " + ", ".join(map(str, requirements)), report)])
    if as_json:
        data = report.to_json()
        data["report"] = str(report_path) if report_path else None
        emit_json(data)
        return
    click.echo(f"requirement: {len(req.paths)} image(s) from "
               + ", ".join(f"{p} (w={w:g})" for p, w in
                           zip(requirements, weights or [1.0] * len(requirements), strict=True)))
    click.echo(ranking_table(report))
    if explain:
        for r in report.results:
            click.echo(f"\n{r.target.name}: S = {r.assessment.score:.4g}")
            click.echo(explain_table(r, req.paths))
    note = model_note(report)
    if note:
        click.echo(note)
    for r in report.results:
        unmatched = sum(m.matched_images == 0 for m in r.assessment.per_image)
        if unmatched:
            click.echo(f"warning: {r.target.name}: {unmatched} of {len(req.paths)} requirement "
                       "image(s) matched no code within the radius", err=True)
    if report_path is not None:
        click.echo(f"report: {report_path}")
