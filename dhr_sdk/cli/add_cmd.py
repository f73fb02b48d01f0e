"""``dhr add``: grow a built store with new images (incremental graph and rank)."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.cli.common import emit_json, feature_options, json_option, progress, quiet_option
from dhr_sdk.offline.grow import add_images


@click.command("add")
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@feature_options
@json_option
@quiet_option
def add_command(store: Path, images: tuple[Path, ...], batch_size: int, workers: int,
                device: str, as_json: bool, quiet: bool) -> None:
    """Add IMAGES (files, folders) to STORE, no rebuild.

    IMAGES must lie inside STORE's collection folder. Only they are decoded and encoded,
    with STORE's model; their codes are appended, the merged graph is updated at the new
    codes, and the rank is redone: only on the touched components when STORE was ranked
    by cpr with solver=closed (the default), on the whole graph otherwise. A format 2.0
    STORE is edited in place through a rollback journal (and rewritten without its dead
    space once that exceeds half of the file), others are replaced once; a kill leaves
    STORE as it was or grown, and the result equals a rebuild of all images.
    Unreadable images are skipped with their reason; images already in STORE are refused.
    """
    report = add_images(store, list(images), batch_size=batch_size, workers=workers,
                        device=device, progress=progress(quiet or as_json))
    if as_json:
        emit_json(report.to_dict())
        return
    for item in report.skipped:
        click.echo(f"skipped {item['image']}: {item['reason']}", err=True)
    click.echo(f"{report.store}: added {report.images_added} images "
               f"({len(report.skipped)} skipped), {report.images} in all; "
               f"{report.new_distinct_codes} new distinct codes, {report.new_edges} new edges; "
               f"re-ranked {report.components_reranked} of {report.components} components"
               f"{'; compacted the store' if report.compacted else ''} ({report.seconds:.3g} s)")
    if report.reason:
        click.echo(f"note: {report.reason}", err=True)
    for key in report.dropped_features:
        click.echo(f"note: dropped the features cache {key} (no rows for the new images)",
                   err=True)
