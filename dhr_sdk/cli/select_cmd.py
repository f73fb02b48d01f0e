"""``dhr select``: spend a budget of images across collections, as file lists to label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dhr_sdk.assessment.selection import Selection, requirement_groups, select
from dhr_sdk.assessment.selection_files import (
    check_outputs,
    export_kind,
    write_csv,
    write_json,
    write_lists,
)
from dhr_sdk.cli.common import emit_json, json_option, quiet_option, render_table
from dhr_sdk.cli.requirement_options import requirement_options, resolve_requirement
from dhr_sdk.core.progress import Progress


def allocation_table(sel: Selection) -> str:
    """Per collection: images, selected, within τ, largest distance; then the total."""
    rows: list[list[Any]] = []
    for a in sel.allocation():
        rows.append([a.target.name, a.n_images, a.selected, a.within_radius,
                     "-" if a.max_distance is None else a.max_distance])
    far = int(sel.distance.max()) if sel.selected else "-"
    rows.append(["total", sum(a.n_images for a in sel.allocation()), sel.selected,
                 sel.selected - sel.beyond_radius, far])
    return render_table(["collection", "images", "selected", f"within τ={sel.radius}",
                         "max distance"], rows)


def groups_table(sel: Selection) -> str:
    rows = [[g["source"], f"{g['weight']:.3g}", g["budget"], g["selected"],
             g["within_radius"], "-" if g["max_distance"] is None else g["max_distance"]]
            for g in sel.group_summary()]
    return render_table(["requirement", "weight", "budget", "selected",
                         f"within τ={sel.radius}", "max distance"], rows)


@click.command("select")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@requirement_options
@click.option("--budget", type=int, required=True, metavar="N",
              help="Total number of images to select across all STORES.")
@click.option("--radius", type=int, default=2, show_default=True,
              help="τ: selected images within this Hamming distance of the requirement are "
                   "counted as 'within τ'; a warning tells how many are farther.")
@click.option("--max-distance", type=int, default=None, metavar="D",
              help="Never select images farther than this from the requirement (then fewer "
                   "than --budget may be selected; the shortfall is reported).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the selection to FILE.csv (one row per image) or "
                                 "FILE.json (the --json contract).")
@click.option("--lists", "lists_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, metavar="DIR",
              help="Write DIR/<collection>.txt per collection: one absolute image path per "
                   "line, for a labeling tool.")
@json_option
@quiet_option
def select_command(stores: tuple[Path, ...], requirements: tuple[Path, ...],
                   requirement_codes: Path | None, weights: tuple[float, ...], budget: int,
                   radius: int, max_distance: int | None, export_path: Path | None,
                   lists_dir: Path | None, as_json: bool, quiet: bool) -> None:
    """Select --budget images across STORES for the requirement (read-only on the stores).

    Each requirement argument (-r) gets budget × its weight; its images are taken nearest
    first (Hamming distance to its requirement images under each store's own model), then
    by importance score. With --requirement-codes the file is one argument, or each code
    one when -w gives a weight per code.
    """
    kind = export_kind(export_path) if export_path is not None else None
    given = resolve_requirement(requirements, requirement_codes, weights)
    groups = requirement_groups(given.requirement, per_code=given.weighted_codes)
    sel = select(given.requirement, list(stores), budget, radius=radius,
                 max_distance=max_distance, groups=groups,
                 progress=Progress(quiet=quiet or as_json))
    data = sel.to_json()
    data["export"] = str(export_path) if export_path is not None else None
    data["lists"] = str(lists_dir) if lists_dir is not None else None
    check_outputs(sel, export_path, lists_dir)
    if export_path is not None:
        if kind == "csv":
            write_csv(sel, export_path)
        else:
            write_json(data, export_path, sel)
    files = write_lists(sel, lists_dir) if lists_dir is not None else []
    if as_json:
        emit_json(data)
        return
    click.echo(f"requirement: {given.requirement.describe()}")
    if len(sel.groups) > 1 or sel.shortfall:
        click.echo(groups_table(sel))
        click.echo()
    click.echo(allocation_table(sel))
    for line in sel.warnings():
        click.echo(f"warning: {line}", err=True)
    if export_path is not None:
        click.echo(f"export: {export_path} ({sel.selected} images, {kind})")
    if lists_dir is not None:
        click.echo(f"lists: {lists_dir}/ ({len(files)} files, one image path per line)")
