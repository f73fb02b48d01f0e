"""Where the off-line pipeline runs over many collections: here, or on a Ray cluster.

An :class:`Executor` runs ``fit`` (one model from many collections), ``encode`` (one model,
many stores) and ``build`` (one store per collection) over :class:`Job`\\ s. The local
executor is a loop over :mod:`dhr_sdk.offline.pipeline`; the Ray executor
(:mod:`dhr_sdk.offline.ray_executor`, ``pip install "dhr-sdk[ray]"``) computes the same
features and codes on a cluster and hands them to the same pipeline code, so both give
the same stores. Ray is imported only when that executor is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone, GraphBuilder, Hasher, Ranker
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.offline import pipeline
from dhr_sdk.offline.executor_api import Executor, Job, check_jobs, fresh_hasher
from dhr_sdk.offline.pipeline import FeatureOptions
from dhr_sdk.store import CodesRecord, Store

__all__ = ["EXECUTORS", "Executor", "Job", "LocalExecutor", "make_executor"]

EXECUTORS = ("local", "ray")


class LocalExecutor(Executor):
    """Everything in this process, one collection after the other."""

    name = "local"

    def fit(self, collections: Sequence[str | Path], out: str | Path, hasher: Hasher,
            backbone: Backbone, *, train: str | Path | None = None,
            train_labels: str | Path | None = None, tags_file: str | Path | None = None,
            cache: bool = True, options: FeatureOptions | None = None,
            progress: Progress = QUIET) -> HashModel:
        return pipeline.fit(collections, out, hasher, backbone, train=train,
                            train_labels=train_labels, tags_file=tags_file, cache=cache,
                            options=options, progress=progress)

    def encode(self, jobs: Sequence[Job], model: HashModel, *,
               options: FeatureOptions | None = None,
               progress: Progress = QUIET) -> list[CodesRecord]:
        check_jobs(jobs)
        return [pipeline.encode(j.collection, model, j.out, labels_file=j.labels_file,
                                tags_file=j.tags_file, options=options, progress=progress)
                for j in jobs]

    def build(self, jobs: Sequence[Job], model: Hasher | HashModel, *, builder: GraphBuilder,
              ranker: Ranker, backbone: Backbone | None = None,
              options: FeatureOptions | None = None, progress: Progress = QUIET) -> list[Store]:
        check_jobs(jobs)
        return [pipeline.build(j.collection, j.out,
                               fresh_hasher(model) if isinstance(model, Hasher) else model,
                               builder=builder, ranker=ranker, backbone=backbone,
                               options=options, progress=progress) for j in jobs]


def make_executor(name: str = "local", address: str | None = None,
                  **ray_options: Any) -> Executor:
    """The executor ``name`` (``local`` or ``ray``). ``address``: the Ray cluster to join
    (``HOST:PORT`` of its head, ``ray://HOST:PORT``, or ``auto``; none: ``$RAY_ADDRESS``, a
    cluster started on this machine, else a Ray instance started here). ``ray_options``
    go to :class:`~dhr_sdk.offline.ray_executor.RayExecutor`."""
    if name == "local":
        if address is not None or ray_options:
            raise DhrError("--address and the Ray options need --executor ray")
        return LocalExecutor()
    if name != "ray":
        raise DhrError(f"unknown executor {name!r}; use {' or '.join(EXECUTORS)}")
    try:
        from dhr_sdk.offline.ray_executor import RayExecutor
    except ImportError as exc:
        raise DhrError(f"the ray executor needs Ray ({exc}); install it with "
                       "pip install \"dhr-sdk[ray]\"") from None
    return RayExecutor(address=address, **ray_options)
