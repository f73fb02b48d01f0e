"""CLI options of ``dhr fit``, ``dhr encode`` and ``dhr build`` that choose where they run
(``--executor local|ray``, ``--address``, ``--actors``, ``--shard-size``) and, for the
commands that write one store per collection, where each store goes (``-o`` / ``--out-dir``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from dhr_sdk.core.errors import DhrError
from dhr_sdk.offline.executor import EXECUTORS, Executor, Job, make_executor

F = TypeVar("F", bound=Callable[..., Any])


def executor_options(f: F) -> F:
    """--executor / --address / --actors / --shard-size."""
    f = click.option("--shard-size", type=int, default=None,
                     help="Ray: images per shard, the unit one actor takes (default 1024, "
                          "rounded up to whole --batch-size batches).")(f)
    f = click.option("--actors", type=int, default=None,
                     help="Ray: backbone actors, each loading the backbone (and model) once "
                          "(default: one per CPU of the cluster, or per GPU when it has "
                          "GPUs).")(f)
    f = click.option("--address", default=None, metavar="ADDRESS",
                     help="Ray: the cluster to join, HOST:PORT of its head (or 'auto'; "
                          "default: $RAY_ADDRESS, a cluster started on this machine, else "
                          "Ray is started here for this command).")(f)
    f = click.option("--executor", type=click.Choice(EXECUTORS), default="local",
                     show_default=True,
                     help="Where to run: in this process, or on a Ray cluster (pip install "
                          "\"dhr-sdk[ray]\"; see docs/scale.md).")(f)
    return f


def make_cli_executor(executor: str, address: str | None, actors: int | None,
                      shard_size: int | None) -> Executor:
    options = {k: v for k, v in (("actors", actors), ("shard_size", shard_size))
               if v is not None}
    return make_executor(executor, address, **options)


def outputs_options(f: F) -> F:
    """-o STORE (once per collection) / --out-dir DIR."""
    f = click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None,
                     help="Write each collection's store as DIR/NAME.h5 (NAME: the folder's "
                          "or file's name), instead of -o.")(f)
    f = click.option("-o", "--output", "outs", multiple=True, type=click.Path(path_type=Path),
                     help="Store to write (created if missing); once per COLLECTION, in "
                          "order.")(f)
    return f


def jobs_from(collections: Sequence[Path], outs: Sequence[Path], out_dir: Path | None,
              labels: Path | None = None, tags: Path | None = None) -> list[Job]:
    """One job per collection, its store from ``-o`` (in order) or ``--out-dir``."""
    if out_dir is not None and outs:
        raise DhrError("give either -o STORE per collection or --out-dir DIR, not both")
    if out_dir is not None:
        outs = [out_dir / f"{Path(c).stem if Path(c).is_file() else Path(c).name}.h5"
                for c in collections]
    if len(outs) != len(collections):
        raise DhrError(f"{len(collections)} collection(s) but {len(outs)} -o store(s): give "
                       "one -o per collection, or --out-dir DIR")
    if (labels is not None or tags is not None) and len(collections) != 1:
        raise DhrError("--labels and --tags apply to a single collection")
    return [Job(c, o, labels, tags) for c, o in zip(collections, outs, strict=True)]
