"""``dhr pretrain``: train a self-supervised backbone (SimCLR) on unlabeled collections."""

from __future__ import annotations

from pathlib import Path

import click

from dhr_sdk.cli.common import emit_json, json_option, params_option, progress, quiet_option
from dhr_sdk.core.params import build_params, parse_key_values


@click.command()
@click.argument("collections", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Backbone file (HDF5) to write; use it as --backbone ssl -p weights=FILE.")
@params_option
@click.option("--resume", is_flag=True,
              help="Continue the run checkpointed in --output (same images and params; "
                   "-p epochs=N may raise the total).")
@click.option("--max-minutes", type=float, default=None,
              help="Stop after the epoch that passes this wall-clock budget (resumable).")
@click.option("--device", default="auto", show_default=True,
              help="Where to train: cpu, cuda, cuda:N, auto (a GPU when present).")
@json_option
@quiet_option
def pretrain_command(collections: tuple[Path, ...], output: Path, params: tuple[str, ...],
                     resume: bool, max_minutes: float | None, device: str, as_json: bool,
                     quiet: bool) -> None:
    """Pretrain a CNN backbone with SimCLR on COLLECTIONS (folders or .txt lists); labels
    never enter. Writes --output after every epoch (resumable); params: docs/data.md."""
    from dhr_sdk.core.device import resolve_device
    from dhr_sdk.offline.pretrain import PretrainParams, pretrain
    from dhr_sdk.offline.pretrain.images import collection_images, prepare_images
    from dhr_sdk.offline.pretrain.simclr import describe

    p = build_params(PretrainParams, parse_key_values(params), "dhr pretrain")
    prog = progress(quiet)
    images = collection_images(list(collections), prog)
    x, digest = prepare_images(images, p.image_size, p.channels)
    res = pretrain(x, output, p, resume=resume, device=resolve_device(device),
                   data_digest=digest, max_minutes=max_minutes, progress=prog)
    out = {**describe(res), "n_images": int(x.shape[0]), "data_digest": digest,
           "params": p.model_dump(mode="json")}
    if as_json:
        emit_json(out)
        return
    last = f", final loss {res.loss[-1]:.4f}" if res.loss else ""
    click.echo(f"{output}: {p.arch} backbone ({res.feature_dim}-d) pretrained on "
               f"{out['n_images']} images, {res.epochs_done} epoch(s){last}, "
               f"{res.seconds:.1f} s; use --backbone ssl -p weights={output}")
