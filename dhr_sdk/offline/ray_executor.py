"""The pipeline on a Ray cluster: backbone (and encoding) through Ray Data, one writer per store.

1. The dhr process plans what to compute: per store, the image files whose features are
   not cached (:func:`dhr_sdk.offline.pipeline.images_to_compute`).
2. Those files, cut into shards of ``shard_size`` images, stream through Ray Data
   ``map_batches`` to a pool of actors; each actor loads the backbone (and, for
   ``encode`` and ``build --model``, the hash model) once and runs shard after shard in
   the local executor's batches (a GPU per actor when the cluster has GPUs).
3. Per store, one Ray task runs the pipeline's own code on those results (fit for
   ``build``; graph and rank) and writes the store with the same atomic replace as a
   local run. ``fit`` runs in the dhr process (one model from every collection).

The images and the stores must be at the same paths on every node (a shared file
system); on one machine they are.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ray

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone, GraphBuilder, Hasher, Ranker
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.data.images import pixel_limit
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.offline import pipeline
from dhr_sdk.offline.computed import Computed
from dhr_sdk.offline.executor_api import Executor, Job, check_jobs
from dhr_sdk.offline.pipeline import FeatureOptions, FeatureRequest
from dhr_sdk.store import CodesRecord, Store

DEFAULT_SHARD_SIZE = 1024
"""Images per shard: the unit an actor takes (rounded up to whole backbone batches)."""


class ShardForward:
    """A Ray Data actor: backbone (and hasher) loaded once, then shard after shard."""

    def __init__(self, backbone: Backbone, hasher: Hasher | None, batch_size: int,
                 device: str, max_pixels: int) -> None:
        self.backbone, self.hasher, self.batch_size = backbone, hasher, batch_size
        self.device, self.max_pixels = device, max_pixels
        self.net = backbone.build(device)
        self.transform = backbone.transform()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from dhr_sdk.data.loader import FileImages, run_batches

        jobs: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        feats: list[np.ndarray] = []
        reasons: list[str] = []
        for job, start, paths in zip(batch["job"], batch["start"], batch["paths"], strict=True):
            images = FileImages([str(p) for p in paths], self.transform, self.max_pixels)
            f, failed = run_batches(images, len(images), self.backbone,
                                    batch_size=self.batch_size, workers=0, device=self.device,
                                    progress=QUIET, net=self.net)
            feats.append(f)
            reasons.extend(failed.get(i, "") for i in range(len(images)))
            jobs.append(np.full(len(images), job, dtype=np.int64))
            rows.append(int(start) + np.arange(len(images), dtype=np.int64))
        f = np.concatenate(feats)
        out: dict[str, np.ndarray] = {
            "job": np.concatenate(jobs), "row": np.concatenate(rows), "features": f,
            "reason": np.asarray(reasons, dtype=np.str_)}
        if self.hasher is not None:
            out["codes"] = self.hasher.encode(f)
        return out


def _shards(paths: Sequence[Sequence[str]], size: int) -> list[dict[str, Any]]:
    return [{"job": j, "start": s, "paths": list(p[s:s + size])}
            for j, p in enumerate(paths) for s in range(0, len(p), size)]


def _unwrap(exc: BaseException) -> BaseException:
    """A task's own :class:`DhrError` (one line) instead of Ray's wrapper with traceback."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, DhrError) else exc


def _write_encode(job: Job, model: HashModel, computed: Computed,
                  options: FeatureOptions | None) -> CodesRecord:
    return pipeline.encode(job.collection, model, job.out, labels_file=job.labels_file,
                           tags_file=job.tags_file, options=options, computed=computed)


def _write_build(job: Job, model: Hasher | HashModel, builder: GraphBuilder, ranker: Ranker,
                 backbone: Backbone | None, computed: Computed,
                 options: FeatureOptions | None) -> str:
    pipeline.build(job.collection, job.out, model, builder=builder, ranker=ranker,
                   backbone=backbone, options=options, computed=computed)
    return str(job.out)


class RayExecutor(Executor):
    """Runs on the Ray cluster at ``address`` (see :func:`dhr_sdk.offline.executor.make_executor`).

    ``actors``: backbone actors (default: one per CPU, or per GPU when the cluster has
    GPUs); ``shard_size``: images per shard; ``init``: extra ``ray.init`` arguments when
    Ray is started here (e.g. ``num_cpus``, ``object_store_memory``). A Ray already
    initialised in this process is used as it is and left running.
    """

    name = "ray"

    def __init__(self, address: str | None = None, actors: int | None = None,
                 shard_size: int = DEFAULT_SHARD_SIZE,
                 init: Mapping[str, Any] | None = None) -> None:
        if actors is not None and actors < 1:
            raise DhrError("--actors must be at least 1")
        if shard_size < 1:
            raise DhrError("--shard-size must be at least 1")
        self.address, self.actors, self.shard_size = address, actors, shard_size
        self.init = dict(init or {})

    @contextlib.contextmanager
    def _cluster(self, progress: Progress) -> Iterator[None]:
        started = not ray.is_initialized()
        if started:
            try:
                ray.init(address=self.address, include_dashboard=False,
                         logging_level=logging.WARNING, **self.init)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "this machine"
                raise DhrError(f"cannot start or join a Ray cluster at {where}: "
                               f"{' '.join(str(exc).split())[:300]}") from None
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        res = ray.cluster_resources()
        progress.log(f"ray: {len(ray.nodes())} node(s), {res.get('CPU', 0):g} CPUs, "
                     f"{res.get('GPU', 0):g} GPUs")
        try:
            yield
        except ray.exceptions.RayError as exc:
            raise _unwrap(exc) from None
        finally:
            if started:
                ray.shutdown()

    def _compute(self, backbone: Backbone, hasher: Hasher | None,
                 paths: Sequence[Sequence[str]], options: FeatureOptions | None,
                 progress: Progress) -> list[Computed]:
        """Features (and codes) of ``paths[j]`` for every j, through Ray Data."""
        o = options or FeatureOptions()
        total = sum(len(p) for p in paths)
        feats = [np.zeros((len(p), backbone.output_dim), np.float32) for p in paths]
        reasons: list[list[str]] = [[""] * len(p) for p in paths]
        codes = [np.zeros((len(p), hasher.n_bits // 8), np.uint8) for p in paths] \
            if hasher is not None else None
        if total:
            self._stream(backbone, hasher, paths, o, progress, feats, reasons, codes)
        return [Computed(list(p), feats[j], reasons[j], None if codes is None else codes[j])
                for j, p in enumerate(paths)]

    def _stream(self, backbone: Backbone, hasher: Hasher | None,
                paths: Sequence[Sequence[str]], o: FeatureOptions, progress: Progress,
                feats: list[np.ndarray], reasons: list[list[str]],
                codes: list[np.ndarray] | None) -> None:
        size = -(-self.shard_size // o.batch_size) * o.batch_size  # whole backbone batches
        shards = _shards(paths, size)
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        actors = self.actors or max(1, int(ray.cluster_resources().get(
            "GPU" if gpus else "CPU", 1)))
        actors = min(actors, len(shards))
        progress.log(f"ray: {sum(len(p) for p in paths)} images in {len(shards)} shard(s) on "
                     f"{actors} {backbone.name} actor(s){' (one GPU each)' if gpus else ''}")
        ds = ray.data.from_items(shards, override_num_blocks=len(shards)).map_batches(
            ShardForward, batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
            fn_constructor_args=(backbone, hasher, o.batch_size, "cuda" if gpus else "cpu",
                                 pixel_limit()))
        with progress.bar(total=sum(len(p) for p in paths), desc=f"features {backbone.name} "
                          f"(ray, {actors} actors)", unit="img") as bar:
            for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
                for j in np.unique(batch["job"]):
                    mine = batch["job"] == j
                    rows = batch["row"][mine]
                    feats[j][rows] = batch["features"][mine]
                    for r, why in zip(rows, batch["reason"][mine], strict=True):
                        reasons[j][r] = str(why)
                    if codes is not None:
                        codes[j][rows] = batch["codes"][mine]
                bar.update(len(batch["row"]))

    def _writers(self, fn: Any, args: Sequence[tuple[Any, ...]], progress: Progress
                 ) -> list[Any]:
        """``fn(*a)`` for every ``a`` as one Ray task each; results in order."""
        task = ray.remote(num_cpus=1)(fn)
        refs = [task.remote(*a) for a in args]
        pending = list(refs)
        with progress.bar(total=len(refs), desc="stores (ray)", unit="store") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                ray.get(done)  # a failed store stops the run with its error
                bar.update(len(done))
        return list(ray.get(refs))

    def fit(self, collections: Sequence[str | Path], out: str | Path, hasher: Hasher,
            backbone: Backbone, *, train: str | Path | None = None,
            train_labels: str | Path | None = None, tags_file: str | Path | None = None,
            cache: bool = True, options: FeatureOptions | None = None,
            progress: Progress = QUIET) -> HashModel:
        pipeline.check_fit_inputs(collections, hasher, train, train_labels, tags_file)
        requests = pipeline.fit_requests(collections, out, out, cache, tags_file, train,
                                         train_labels)
        todo = [pipeline.images_to_compute(r, backbone) for r in requests]
        with self._cluster(progress):
            parts = self._compute(backbone, None, todo, options, progress)
        merged = Computed([p for c in parts for p in c.paths],
                          np.concatenate([c.features for c in parts]),
                          [r for c in parts for r in c.reasons])
        return pipeline.fit(collections, out, hasher, backbone, train=train,
                            train_labels=train_labels, tags_file=tags_file, cache=cache,
                            options=options, progress=progress, computed=merged)

    def encode(self, jobs: Sequence[Job], model: HashModel, *,
               options: FeatureOptions | None = None,
               progress: Progress = QUIET) -> list[CodesRecord]:
        check_jobs(jobs)
        backbone = model.make_backbone()
        todo = [_todo([pipeline.encode_request(j.collection, j.out, j.out, j.labels_file,
                                               j.tags_file)], backbone) for j in jobs]
        with self._cluster(progress):
            parts = self._compute(backbone, model.hasher, todo, options, progress)
            return self._writers(_write_encode, [(j, model, c, options)
                                                 for j, c in zip(jobs, parts, strict=True)],
                                 progress)

    def build(self, jobs: Sequence[Job], model: Hasher | HashModel, *, builder: GraphBuilder,
              ranker: Ranker, backbone: Backbone | None = None,
              options: FeatureOptions | None = None, progress: Progress = QUIET) -> list[Store]:
        check_jobs(jobs)
        if isinstance(model, HashModel):
            bb, hasher = model.make_backbone(), model.hasher
        elif backbone is None:
            raise DhrError("give the backbone whose features the hasher learns from")
        else:
            bb, hasher = backbone, None
            pipeline.check_fit_inputs([jobs[0].collection], model, None, None, None)
        todo = []
        for j in jobs:
            reqs = [pipeline.encode_request(j.collection, j.out, j.out)]
            if hasher is None:
                reqs = pipeline.fit_requests([j.collection], j.out, j.out, True) + reqs
            todo.append(_todo(reqs, bb))
        with self._cluster(progress):
            parts = self._compute(bb, hasher, todo, options, progress)
            done = self._writers(_write_build, [(j, model, builder, ranker, backbone, c, options)
                                                for j, c in zip(jobs, parts, strict=True)],
                                 progress)
        return [Store(p) for p in done]


def _todo(requests: Sequence[FeatureRequest], backbone: Backbone) -> list[str]:
    """The files any of ``requests`` needs computed, each once, in order."""
    return list(dict.fromkeys(p for r in requests
                              for p in pipeline.images_to_compute(r, backbone)))
