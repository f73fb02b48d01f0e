"""``dhr encode``: codes of a collection under a saved model (one model, many collections)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from dhr_sdk.cli.common import emit_json, json_option, quiet_option
from dhr_sdk.cli.pipeline_options import feature_options, make_feature_options
from dhr_sdk.core.progress import Progress
from dhr_sdk.offline.pipeline import encode as encode_collection


@click.command()
@click.argument("collection", type=click.Path(path_type=Path))
@click.option("--model", required=True, type=click.Path(path_type=Path),
              help="Model file written by 'dhr fit' (or any store holding a model).")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              help="Store to write (created if missing): collection, features, model, codes.")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Optional labels file recorded with the collection.")
@click.option("--tags", type=click.Path(path_type=Path), default=None,
              help="Optional tags file recorded with the collection.")
@feature_options
@json_option
@quiet_option
def encode(collection: Path, model: Path, out: Path, labels: Path | None, tags: Path | None,
           batch_size: int, workers: int, device: str, as_json: bool, quiet: bool) -> None:
    """Encode COLLECTION (image folder or store) with MODEL into the store -o.

    Then run 'dhr graph STORE' and 'dhr rank STORE' to make it assessable.
    """
    rec = encode_collection(collection, model, out, labels_file=labels, tags_file=tags,
                            options=make_feature_options(batch_size, workers, device),
                            progress=Progress(quiet=quiet or as_json))
    distinct = int(np.unique(rec.codes, axis=0).shape[0]) if rec.codes.size else 0
    summary = {"store": str(out), "model": str(model), "n_images": int(rec.codes.shape[0]),
               "n_bits": rec.n_bits, "distinct_codes": distinct}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"wrote {out}: {summary['n_images']} codes of {rec.n_bits} bits "
                   f"({distinct} distinct)")
