"""``dhr info``: what a store or model file holds."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.cli.common import emit_json, json_option
from dhr_sdk.store import Store


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@json_option
def info(file: Path, as_json: bool) -> None:
    """Show the elements of a store or model FILE (collection, model, codes, graph, rank...)."""
    summary = Store(file).summary()
    if as_json:
        emit_json(summary)
        return
    click.echo(f"{summary['path']}: {summary['format']} {summary['format_version']} "
               f"(written by dhr-sdk {summary['sdk_version']}, {summary['created']})")
    if not summary["elements"]:
        click.echo("  (empty)")
    for name, desc in summary["elements"].items():
        prov = desc.pop("provenance", None)
        desc.pop("encoding_version", None)
        details = ", ".join(f"{k}={v}" for k, v in desc.items() if k != "info")
        click.echo(f"  {name}: {details}")
        if prov:
            click.echo(f"    by {prov['kind']} {prov['plugin']} {prov['plugin_version']} "
                       f"({prov['distribution']}), seed={prov['seed']}, params={prov['params']}")
