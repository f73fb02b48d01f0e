"""``dhr features``: extract (or reuse) backbone features of a collection into a store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dhr_sdk.cli.common import (
    config_option,
    create_plugin,
    emit_json,
    feature_options,
    json_option,
    params_option,
    progress,
    quiet_option,
    render_table,
)
from dhr_sdk.data.collection import open_collection
from dhr_sdk.data.features import extract_collection

MAX_ROWS = 20


@click.command()
@click.argument("collection", type=click.Path(path_type=Path))
@click.option("-o", "--output", "store", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Store (HDF5) to write; created if absent.")
@click.option("--backbone", default="pixels", show_default=True,
              help="Backbone plugin (see 'dhr plugins').")
@params_option
@config_option
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Labels side file (.csv or .jsonl, see docs/data.md).")
@click.option("--tags", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Tags side file (.csv or .jsonl).")
@feature_options
@click.option("--recompute", is_flag=True, help="Ignore cached features.")
@json_option
@quiet_option
def features(collection: Path, store: Path, backbone: str, params: tuple[str, ...],
             config: Path | None, labels: Path | None, tags: Path | None, batch_size: int,
             workers: int, device: str, recompute: bool, as_json: bool, quiet: bool) -> None:
    """Extract backbone features of COLLECTION (a folder, or a .txt list of image paths)
    into a store, reusing cached features of the same backbone and params."""
    col = open_collection(collection, labels, tags)
    bb = create_plugin("backbone", backbone, params, config)
    res = extract_collection(store, col, bb, batch_size=batch_size, workers=workers,
                             device=device, progress=progress(quiet), recompute=recompute)
    rec, coll = res.features, res.collection
    skipped = [{"image": i, "reason": r}
               for i, r in zip(coll.skipped, coll.skipped_reasons, strict=True)]
    out: dict[str, Any] = {
        "store": str(store), "key": rec.key, "backbone": rec.backbone,
        "backbone_params": rec.backbone_params, "n_images": int(rec.features.shape[0]),
        "dim": int(rec.features.shape[1]), "cached": res.cached,
        "seconds": round(res.seconds, 3), "skipped": skipped,
        "labels": coll.label_names, "tags": coll.tag_names}
    if as_json:
        emit_json(out)
        return
    how = "reused from the cache" if res.cached else f"extracted in {res.seconds:.1f} s"
    click.echo(f"{store}: features {rec.key} ({out['n_images']} images x {out['dim']}), {how}")
    if skipped:
        click.echo(f"skipped {len(skipped)} file(s) that are not usable images:")
        rows = [(s["image"], s["reason"]) for s in skipped[:MAX_ROWS]]
        click.echo(render_table(["file", "reason"], rows))
        if len(skipped) > MAX_ROWS:
            click.echo(f"... and {len(skipped) - MAX_ROWS} more (dhr features --json lists all)")
