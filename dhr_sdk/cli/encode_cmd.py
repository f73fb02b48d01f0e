"""``dhr encode``: codes of collections under a saved model (one model, many collections)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from dhr_sdk.cli.common import emit_json, feature_options, json_option, quiet_option
from dhr_sdk.cli.executor_options import (
    executor_options,
    jobs_from,
    make_cli_executor,
    outputs_options,
)
from dhr_sdk.cli.pipeline_options import make_feature_options
from dhr_sdk.core.progress import Progress
from dhr_sdk.model.hash_model import load_model


@click.command()
@click.argument("collections", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", required=True, type=click.Path(path_type=Path),
              help="Model file written by 'dhr fit' (or any store holding a model).")
@outputs_options
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Optional labels file recorded with the (single) collection.")
@click.option("--tags", type=click.Path(path_type=Path), default=None,
              help="Optional tags file recorded with the (single) collection.")
@feature_options
@executor_options
@json_option
@quiet_option
def encode(collections: tuple[Path, ...], model: Path, outs: tuple[Path, ...],
           out_dir: Path | None, labels: Path | None, tags: Path | None, batch_size: int,
           workers: int, device: str, executor: str, address: str | None,
           actors: int | None, shard_size: int | None, as_json: bool, quiet: bool) -> None:
    """Encode COLLECTIONS (image folders or stores) with MODEL, each into its store (-o
    once per collection, or --out-dir): collection, features, model and codes.

    Then run 'dhr graph STORE' and 'dhr rank STORE' to make it assessable.
    """
    jobs = jobs_from(collections, outs, out_dir, labels, tags)
    ex = make_cli_executor(executor, address, actors, shard_size)
    recs = ex.encode(jobs, load_model(model),
                     options=make_feature_options(batch_size, workers, device),
                     progress=Progress(quiet=quiet or as_json))
    summaries: list[dict[str, Any]] = []
    for job, rec in zip(jobs, recs, strict=True):
        distinct = int(np.unique(rec.codes, axis=0).shape[0]) if rec.codes.size else 0
        summaries.append({"store": str(job.out), "model": str(model),
                          "n_images": int(rec.codes.shape[0]), "n_bits": rec.n_bits,
                          "distinct_codes": distinct})
    if as_json:
        emit_json(summaries[0] if len(summaries) == 1 else summaries)
        return
    for s in summaries:
        click.echo(f"wrote {s['store']}: {s['n_images']} codes of {s['n_bits']} bits "
                   f"({s['distinct_codes']} distinct)")
