"""``dhr build``: fit, encode, graph and rank each collection into its own store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    feature_options,
    json_option,
    params_option,
    quiet_option,
)
from dhr_sdk.cli.executor_options import (
    executor_options,
    jobs_from,
    make_cli_executor,
    outputs_options,
)
from dhr_sdk.cli.pipeline_options import (
    make_feature_options,
    make_hasher,
    split_params,
)
from dhr_sdk.core.interfaces import Backbone, Hasher
from dhr_sdk.core.progress import Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.model.hash_model import HashModel, load_model
from dhr_sdk.offline.relevance import isolated_codes_warning
from dhr_sdk.store import Store


@click.command()
@click.argument("collections", nargs=-1, required=True, type=click.Path(path_type=Path))
@outputs_options
@click.option("--hasher", default="itq", show_default=True,
              help="Hasher plugin to fit (ignored with --model).")
@click.option("--ranker", default="cpr", show_default=True, help="Ranker plugin (cpr, shr).")
@click.option("--builder", default="hamming", show_default=True, help="Graph builder plugin.")
@click.option("--backbone", default="pixels", show_default=True, help="Backbone plugin.")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="Use this saved model instead of fitting one.")
@params_option
@config_option
@feature_options
@executor_options
@json_option
@quiet_option
def build(collections: tuple[Path, ...], outs: tuple[Path, ...], out_dir: Path | None,
          hasher: str, ranker: str, builder: str, backbone: str, model: Path | None,
          params: tuple[str, ...], config: Path | None, batch_size: int, workers: int,
          device: str, executor: str, address: str | None, actors: int | None,
          shard_size: int | None, as_json: bool, quiet: bool) -> None:
    """Everything off-line for each of COLLECTIONS (folder or store), each into its own
    store (-o once per collection, or --out-dir): fit, encode, graph, rank.

    -p KEY=VALUE sets hasher params; prefix a key with graph., ranker. or backbone. for
    the other plugins (e.g. -p n_bits=64 -p graph.radius=2 -p ranker.eps=1e-6). Every
    param is checked before anything is written, and each store is replaced once, at the
    end: an error or a kill leaves the previous store as it was. Without --model every
    store gets its own model, fitted on its collection.
    """
    jobs = jobs_from(collections, outs, out_dir)
    ex = make_cli_executor(executor, address, actors, shard_size)
    kinds = split_params(params, config, "hasher")
    reg = get_registry()
    gb = reg.create("graph_builder", builder, kinds["graph_builder"])
    rk = reg.create("ranker", ranker, kinds["ranker"])
    fitted: Hasher | HashModel
    bb: Backbone | None = None
    if model is not None:
        fitted = load_model(model)
    else:
        fitted = make_hasher(hasher, kinds["hasher"])
        bb = reg.create("backbone", backbone, kinds["backbone"])
    stores = ex.build(jobs, fitted, builder=gb, ranker=rk, backbone=bb,
                      options=make_feature_options(batch_size, workers, device),
                      progress=Progress(quiet=quiet or as_json))
    summaries = [_summary(s) for s in stores]
    if as_json:
        emit_json(summaries[0] if len(summaries) == 1 else summaries)
        return
    for job, summary in zip(jobs, summaries, strict=True):
        el = summary["elements"]
        click.echo(f"wrote {job.out}: {el['collection']['n_images']} images, "
                   f"{el['model']['hasher']} {el['model']['n_bits']} bits, "
                   f"{el['graph']['nodes']} graph nodes, {el['graph']['edges']} edges, "
                   f"importance list of {el['importance']['rows']} codes")


def _summary(store: Store) -> dict[str, Any]:
    """``dhr info --json`` of the store, with the sparse-graph advice as ``warnings``."""
    summary = store.summary()
    advice = isolated_codes_warning(summary["elements"]["graph"], "build")
    summary["warnings"] = [advice] if advice else []  # also printed as a warning line
    return summary
