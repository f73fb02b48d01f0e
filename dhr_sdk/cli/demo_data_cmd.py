"""``dhr demo-data``: materialise the built-in real demo image folders (offline)."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.cli.common import emit_json, json_option, progress, quiet_option, render_table
from dhr_sdk.datasets.materialise import materialise_demo


@click.command("demo-data")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every draw.")
@click.option("--per-collection", type=int, default=1000, show_default=True,
              help="Images per candidate collection CDS1..CDS8.")
@click.option("--requirement-size", type=int, default=20, show_default=True,
              help="Held-out requirement images per class.")
@click.option("--multilabel-size", type=int, default=1000, show_default=True,
              help="Canvases of the multi-label collection MDS1 (0: none).")
@click.option("--overwrite", is_flag=True, help="Rebuild an existing demo folder.")
@json_option
@quiet_option
def demo_data(out_dir: Path, seed: int, per_collection: int, requirement_size: int,
              multilabel_size: int, overwrite: bool, as_json: bool, quiet: bool) -> None:
    """Write demo collections of real animal silhouettes (animal-mnist, vendored) to OUT_DIR:
    8 candidate collections with controlled class proportions, held-out requirement images
    per class, a multi-label collection, label files and manifest.json. No network needed."""
    manifest = materialise_demo(out_dir, seed, per_collection=per_collection,
                                n_requirement=requirement_size, n_multilabel=multilabel_size,
                                overwrite=overwrite, progress=progress(quiet))
    if as_json:
        emit_json(manifest)
        return
    rows = []
    for group in ("collections", "multilabel", "requirements"):
        for e in manifest[group]:
            top = sorted(e["class_counts"].items(), key=lambda kv: -kv[1])
            rows.append((e["path"], e["n_images"], e["labels_file"],
                         ", ".join(f"{c} {k}" for c, k in top if k)[:60]))
    click.echo(render_table(["folder", "images", "labels", "classes"], rows))
    click.echo(f"manifest: {out_dir / 'manifest.json'}")
