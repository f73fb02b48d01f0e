r"""What every executor implements: :class:`Executor` over :class:`Job`\ s (one collection
into one store each), and the checks they share. The executors live in
:mod:`dhr_sdk.offline.executor` (local, and the factory) and
:mod:`dhr_sdk.offline.ray_executor`."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone, GraphBuilder, Hasher, Ranker
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.offline.pipeline import FeatureOptions
from dhr_sdk.store import CodesRecord, Store


@dataclass(frozen=True)
class Job:
    """One collection (image folder, list or store) into one store, with optional labels
    and tags files recorded with the collection (``encode`` only)."""

    collection: str | Path
    out: str | Path
    labels_file: str | Path | None = None
    tags_file: str | Path | None = None


def check_jobs(jobs: Sequence[Job]) -> None:
    """At least one job, and no two jobs writing the same store."""
    if not jobs:
        raise DhrError("give at least one collection")
    seen: dict[str, Job] = {}
    for job in jobs:
        key = os.path.realpath(job.out)
        if key in seen:
            raise DhrError(f"{seen[key].collection} and {job.collection} would both be written "
                           f"to {job.out}; give each collection its own store")
        seen[key] = job


def fresh_hasher(hasher: Hasher) -> Hasher:
    """An unfitted copy of ``hasher`` (same params), one per store ``build`` fits."""
    return type(hasher)(hasher.params)


class Executor(ABC):
    """Runs fit / encode / build; every implementation gives the same stores."""

    name: str

    @abstractmethod
    def fit(self, collections: Sequence[str | Path], out: str | Path, hasher: Hasher,
            backbone: Backbone, *, train: str | Path | None = None,
            train_labels: str | Path | None = None, tags_file: str | Path | None = None,
            cache: bool = True, options: FeatureOptions | None = None,
            progress: Progress = QUIET) -> HashModel:
        """:func:`dhr_sdk.offline.pipeline.fit`: one model from all ``collections``."""

    @abstractmethod
    def encode(self, jobs: Sequence[Job], model: HashModel, *,
               options: FeatureOptions | None = None,
               progress: Progress = QUIET) -> list[CodesRecord]:
        """:func:`dhr_sdk.offline.pipeline.encode` for every job, one record per job."""

    @abstractmethod
    def build(self, jobs: Sequence[Job], model: Hasher | HashModel, *, builder: GraphBuilder,
              ranker: Ranker, backbone: Backbone | None = None,
              options: FeatureOptions | None = None, progress: Progress = QUIET) -> list[Store]:
        """:func:`dhr_sdk.offline.pipeline.build` for every job; an unfitted ``model`` is
        fitted anew on each collection (the stores do not share a model)."""
