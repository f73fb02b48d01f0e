"""``dhr graph``: build the Hamming graph of a store's codes."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    json_option,
    params_option,
    plugin_params,
    progress,
    quiet_option,
)
from dhr_sdk.core.registry import get_registry
from dhr_sdk.offline.relevance import build_graph


@click.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--builder", default="hamming", show_default=True, help="Graph builder plugin.")
@params_option
@config_option
@json_option
@quiet_option
def graph(store: Path, builder: str, params: tuple[str, ...], config: Path | None,
          as_json: bool, quiet: bool) -> None:
    """Build the graph of STORE's codes and store it (params such as -p radius=2, -p merged=false).

    Replaces any previous graph, rank and importance list of STORE. Warns when more than
    half of the codes have no neighbour (use a larger radius, or fewer bits).
    """
    plugin = get_registry().create("graph_builder", builder,
                                   plugin_params("graph_builder", params, config))
    summary = build_graph(store, plugin, progress(quiet or as_json))
    if as_json:
        emit_json(summary)
        return
    kind = "distinct codes" if summary["merged"] else "images"
    click.echo(f"{summary['store']}: {summary['builder']} graph, radius {summary['radius']}: "
               f"{summary['nodes']} nodes ({kind}) for {summary['images']} images, "
               f"{summary['edges']} edges, {summary['components']} components, "
               f"{summary['isolated_nodes']} isolated nodes ({summary['seconds']:.3g} s)")
