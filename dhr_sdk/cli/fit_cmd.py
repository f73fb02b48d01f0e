"""``dhr fit``: learn one hash model from one or more collections."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.cli.common import (
    config_option,
    emit_json,
    feature_options,
    json_option,
    params_option,
    quiet_option,
)
from dhr_sdk.cli.executor_options import executor_options, make_cli_executor
from dhr_sdk.cli.pipeline_options import (
    make_feature_options,
    make_hasher,
    split_params,
)
from dhr_sdk.core.progress import Progress
from dhr_sdk.core.registry import get_registry


@click.command()
@click.argument("collections", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              help="Model file to write (a dhr store holding the model element).")
@click.option("--hasher", required=True, help="Hasher plugin (see 'dhr plugins').")
@click.option("--backbone", default="pixels", show_default=True,
              help="Backbone plugin computing the features the hasher learns from.")
@click.option("--train", type=click.Path(path_type=Path), default=None,
              help="Labeled training collection (GAH's public set, stage TP-A).")
@click.option("--labels", "train_labels", type=click.Path(path_type=Path), default=None,
              help="Labels file of --train.")
@click.option("--tags", type=click.Path(path_type=Path), default=None,
              help="Tags file of the (single) collection, for tag-using hashers (LAGNH).")
@click.option("--seed", type=int, default=None, help="Overrides the hasher's seed param.")
@params_option
@config_option
@feature_options
@executor_options
@json_option
@quiet_option
def fit(collections: tuple[Path, ...], out: Path, hasher: str, backbone: str,
        train: Path | None, train_labels: Path | None, tags: Path | None, seed: int | None,
        params: tuple[str, ...], config: Path | None, batch_size: int, workers: int,
        device: str, executor: str, address: str | None, actors: int | None,
        shard_size: int | None, as_json: bool, quiet: bool) -> None:
    """Fit a hash model on COLLECTIONS (image folders or stores) and save it to -o.

    -p KEY=VALUE sets hasher params (prefix backbone.KEY for the backbone). One model can
    then encode many collections: 'dhr encode COLLECTION --model MODEL -o STORE'.
    With --executor ray the backbone runs on a Ray cluster (the fit itself runs here).
    """
    ex = make_cli_executor(executor, address, actors, shard_size)
    kinds = split_params(params, config, "hasher")
    h = make_hasher(hasher, kinds["hasher"], seed)
    bb = get_registry().create("backbone", backbone, kinds["backbone"])
    model = ex.fit(list(collections), out, h, bb, train=train, train_labels=train_labels,
                   tags_file=tags, options=make_feature_options(batch_size, workers, device),
                   progress=Progress(quiet=quiet or as_json))
    summary = {"model": str(out), "hasher": model.hasher.name, "n_bits": model.n_bits,
               "backbone": model.backbone,
               "params": model.hasher.params.model_dump(mode="json"),
               "collections": [str(c) for c in collections]}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"wrote {out}: {model.hasher.name} {model.n_bits} bits on {model.backbone} "
                   f"features of {len(collections)} collection(s)")
