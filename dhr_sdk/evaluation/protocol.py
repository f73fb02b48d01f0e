"""The retrieval evaluation protocols: split, fit, encode, measure — or a fitted model as is.

:func:`run_evaluation` measures hashers on one dataset (steps 1–3 below);
:func:`evaluate_model` measures an already fitted model on the user's own queries and
database (no split, no refit: the model the user will deploy).

1. :func:`split_indices` draws, with one seed, ``n_queries`` queries, a database from the
   rest (all of it by default) and a training set — by default sampled from the database,
   the usual unsupervised-hashing protocol (CIFAR-10: 1,000 queries, 59,000 database,
   5,000 training images drawn from the database); ``train_from="rest"`` draws it from the
   images that are neither queries nor database instead. The database keeps the random
   draw order, so the metrics' tie rule (database index) carries no label information.
2. The hasher is fitted on the training rows only (:func:`fit_data_for`: ``features`` are
   the training features; the ground-truth labels — as ``labels`` or as the labeled
   ``train_*`` set — are passed only when the hasher declares them in ``requires``, so an
   unsupervised method never sees them; tags, being auxiliary data and not ground truth,
   are passed whenever the dataset has them). A semi-supervised hasher (``train`` in
   ``requires``) gets the training rows as its labeled set and the unlabeled database as
   its dark data. A hasher that asks for the images (``"images"`` in
   ``required_inputs()``: it fine-tunes the backbone, or LAGNH computes visual-word tags)
   gets the training images too. Database and queries are then encoded by the same
   fitted model (through its fine-tuned backbone, if any: the encode time then includes
   that forward pass).
3. :func:`dhr_sdk.evaluation.metrics.evaluate_retrieval` measures the codes; times are wall-clock.
   The result's ``info["model"]`` holds the fitted model's size
   (:func:`dhr_sdk.model.size.model_size`: learned parameters, stored state values).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import FitData, FitImages, Hasher
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.evaluation.data import LabeledFeatures
from dhr_sdk.evaluation.metrics import (
    evaluate_retrieval,
)
from dhr_sdk.evaluation.report import EvalReport
from dhr_sdk.evaluation.spec import EvalResult, MetricSpec
from dhr_sdk.evaluation.split import Split, SplitSpec, split_indices
from dhr_sdk.model.finetuned import FineTunedBackbone
from dhr_sdk.model.hash_model import HashModel, load_model
from dhr_sdk.model.size import model_size


def fit_data_for(hasher: Hasher, data: LabeledFeatures, train: np.ndarray,
                 dark: np.ndarray | None = None) -> FitData:
    """The :class:`FitData` of the ``train`` rows, holding only what ``requires`` asks for.

    A semi-supervised hasher (``requires`` has ``train``, e.g. GAH) gets the ``train`` rows
    as its labeled set and, when ``dark`` is given, those rows (the unlabeled database, the
    collection being hashed) as its dark data ``features`` — the paper's TP-A / TP-B setting.
    """
    req = set(hasher.required_inputs())
    unknown = req - {"labels", "tags", "train", "images"}
    if unknown:
        raise DhrError(f"hasher {hasher.name!r} requires {sorted(unknown)}, which the "
                       "evaluation protocol cannot provide")
    if "tags" in req and data.tags is None:
        raise DhrError(f"hasher {hasher.name!r} needs tags, and dataset {data.name!r} has none")
    x = data.features[train]
    rows = dark if (dark is not None and "train" in req) else train
    labeled = bool(req & {"labels", "train"})
    return FitData(
        features=data.features[rows],
        labels=data.labels[train] if "labels" in req else None,
        tags=None if data.tags is None else data.tags[rows],
        label_names=data.class_names if labeled else (),
        tag_names=data.tag_names if data.tags is not None else (),
        train_features=x if "train" in req else None,
        train_labels=data.labels[train] if "train" in req else None,
        images=_fit_images(data, rows) if "images" in req else None)


def _fit_images(data: LabeledFeatures, rows: np.ndarray) -> FitImages | None:
    """The ``rows`` images for a hasher that asks for them (``required_inputs()``); None
    when the dataset holds features only: the hasher then falls back or raises (LAGNH's
    ``auto`` uses pseudo-tags only, ``fine_tune`` and explicit visual words raise)."""
    if data.image_dataset is None:
        return None
    from dhr_sdk.data.loader import RowSubset

    return FitImages(RowSubset(data.image_dataset, rows), data.backbone_plugin(), data.device)


def model_features(hasher: Hasher, data: LabeledFeatures, rows: np.ndarray,
                    progress: Progress) -> np.ndarray:
    """Features of ``rows`` as the fitted model sees them: the stored features, or the
    images through the backbone the hasher fine-tuned."""
    state = hasher.backbone_state()
    if not state:
        return data.features[rows]
    from dhr_sdk.data.loader import RowSubset, run_batches

    bb = FineTunedBackbone(data.backbone_plugin(), state)
    feats, failed = run_batches(RowSubset(data.image_dataset, rows), int(rows.size), bb,
                                batch_size=256, workers=0, device=data.device,
                                progress=progress)
    if failed:
        raise DhrError(f"{len(failed)} image(s) became unreadable during the evaluation")
    return feats


def evaluate_hasher(hasher: Hasher, data: LabeledFeatures, split: Split,
                    metrics: MetricSpec = MetricSpec(), progress: Progress = QUIET) -> EvalResult:
    """Fit ``hasher`` on the training rows, encode database and queries, measure."""
    params = hasher.params.model_dump(mode="json")
    fit_data = fit_data_for(hasher, data, split.train, dark=split.database)
    start = time.perf_counter()
    hasher.fit(fit_data, progress=progress)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    # one pass over database + queries (encoding is row-independent, a conformance check)
    rows = np.concatenate([split.database, split.query])
    codes = hasher.encode(model_features(hasher, data, rows, progress))
    db_codes, q_codes = codes[:split.database.size], codes[split.database.size:]
    enc_s = time.perf_counter() - start
    m = evaluate_retrieval(q_codes, db_codes, data.labels[split.query],
                           data.labels[split.database], topk=metrics.topk,
                           radius=metrics.radius, k_values=metrics.k_values,
                           no_relevant=metrics.no_relevant)
    return EvalResult(hasher.name, hasher.n_bits, params, m, fit_s, enc_s,
                      int(split.database.size + split.query.size),
                      int(np.unique(db_codes, axis=0).shape[0]),
                      info={"requires": sorted(hasher.required_inputs()),
                            "model": model_size(hasher)})


def make_hasher(name: str, n_bits: int, params: dict[str, Any] | None = None) -> Hasher:
    """A registered hasher with ``params`` and ``n_bits`` (one-line error on bad params)."""
    values = dict(params or {})
    if "n_bits" in values:
        raise DhrError("set the code length with the bits option, not the n_bits parameter")
    values["n_bits"] = n_bits
    return get_registry().create("hasher", name, values)


def hasher_grid(hashers: Sequence[tuple[str, dict[str, Any]]], bits: Sequence[int]
                ) -> list[Hasher]:
    """Every named hasher (with its params) at every code length, hasher-major: the rows of
    :func:`run_evaluation`. All are instantiated here, so bad params fail before any work."""
    if not hashers or not bits:
        raise DhrError("give at least one hasher and one code length")
    return [make_hasher(name, b, params) for name, params in hashers for b in bits]


def run_evaluation(data: LabeledFeatures, hashers: Sequence[Hasher],
                   split: SplitSpec = SplitSpec(),
                   metrics: MetricSpec = MetricSpec(), progress: Progress = QUIET,
                   catch: tuple[type[BaseException], ...] = (DhrError,)) -> EvalReport:
    """Fit and evaluate every (unfitted) hasher on one split, one row each (e.g. from
    :func:`hasher_grid`); returns an :class:`EvalReport`.

    An exception of a type in ``catch`` raised while fitting/encoding one row is recorded as
    that row's ``error`` and the run goes on.
    """
    if not hashers:
        raise DhrError("give at least one hasher")
    parts = split_indices(len(data), split)
    results: list[EvalResult] = []
    for hasher in progress.iterate(list(hashers), desc="evaluate", unit="model"):
        name, b = hasher.name, hasher.n_bits
        try:
            res = evaluate_hasher(hasher, data, parts, metrics, progress)
        except catch as exc:
            msg = str(exc) if isinstance(exc, DhrError) else f"{type(exc).__name__}: {exc}"
            progress.log(f"{name} {b} bits: skipped ({msg})")
            res = EvalResult(name, b, hasher.params.model_dump(mode="json"), error=msg)
        else:
            m = res.metrics
            assert m is not None
            progress.log(f"{name} {b} bits: mAP@{metrics.topk[0] or 'all'} "
                         f"{next(iter(m.map_at.values()), 0.0):.4f}, "
                         f"P@HD<={metrics.radius} {m.precision_radius:.4f}")
        results.append(res)
    return EvalReport(dataset=data.describe(), backbone=data.backbone,
                      backbone_params=data.backbone_params, split=split,
                      split_sizes=parts.sizes(), metric_spec=metrics, results=results,
                      feature_seconds=data.feature_seconds)


class EvalWarning(UserWarning):
    """Something that makes a fitted model's evaluation say less than it seems to."""


def evaluate_model(model: str | Path | HashModel, queries: str | Path, database: str | Path, *,
                   query_labels: str | Path | None = None,
                   database_labels: str | Path | None = None,
                   metrics: MetricSpec = MetricSpec(), seed: int = 0,
                   cache: str | Path | None = None, batch_size: int = 64, workers: int = 0,
                   device: str = "cpu", progress: Progress = QUIET) -> EvalReport:
    """Measure a fitted model on the user's own queries and database; an :class:`EvalReport`.

    No split is drawn and nothing is fitted: ``model`` (a model file, any store holding a
    model, or a :class:`HashModel`) encodes both sides as ``dhr encode`` does
    (:func:`dhr_sdk.evaluation.data.model_codes`: a labeled folder or ``.txt`` list with its
    labels file, or a store's own codes, features and labels; folder features are cached
    in ``cache``/``features-<side>.h5`` when ``cache`` is given). Label names are matched
    across the two sides; no name in common, or images on both sides, is warned about
    (:class:`EvalWarning`) and recorded in the report. The database is measured in a
    random order drawn with ``seed`` (:func:`database_order`): the tie rule keeps database
    order, and a folder's sorted ids (``cat/…`` before ``dog/…``) would carry the labels
    into it. Nothing given is written to.
    """
    from dhr_sdk.assessment.targets import model_fingerprint
    from dhr_sdk.evaluation.data import describe_pair, joint_labels, model_codes, pair_warnings

    hm = model if isinstance(model, HashModel) else load_model(model)
    fp = model_fingerprint(hm.to_record())
    progress.log(f"model {fp}: {hm.hasher.name}, {hm.n_bits} bits, backbone {hm.backbone}")
    q, db = (model_codes(hm, src, labels, role=role, fingerprint=fp,
                         cache=None if cache is None else Path(cache) / f"features-{role}.h5",
                         batch_size=batch_size, workers=workers, device=device,
                         progress=progress)
             for role, src, labels in (("queries", queries, query_labels),
                                       ("database", database, database_labels)))
    q_labels, db_labels, names = joint_labels(q, db)
    notes = pair_warnings(q, db)
    for note in notes:
        warnings.warn(note, EvalWarning, stacklevel=2)
    order = database_order(len(db), seed)
    m = evaluate_retrieval(q.codes, db.codes[order], q_labels, db_labels[order],
                           topk=metrics.topk, radius=metrics.radius, k_values=metrics.k_values,
                           no_relevant=metrics.no_relevant)
    res = EvalResult(hm.hasher.name, hm.n_bits, hm.hasher.params.model_dump(mode="json"), m,
                     0.0, q.encode_seconds + db.encode_seconds, q.n_encoded + db.n_encoded,
                     int(np.unique(db.codes, axis=0).shape[0]),
                     info={"requires": sorted(hm.hasher.required_inputs()),
                           "model": model_size(hm.hasher), "fingerprint": fp})
    feature_dim = hm.make_backbone().output_dim
    model_info = {"path": None if isinstance(model, HashModel) else str(model),
                  "fingerprint": fp, "hasher": hm.hasher.name, "n_bits": hm.n_bits,
                  "params": res.params, "backbone": hm.backbone,
                  "backbone_params": hm.backbone_params}
    return EvalReport(dataset=describe_pair(q, db, names, q_labels, db_labels, feature_dim),
                      backbone=hm.backbone, backbone_params=dict(hm.backbone_params),
                      split=None, split_sizes={"n_queries": len(q), "n_database": len(db)},
                      metric_spec=metrics, results=[res],
                      feature_seconds=q.feature_seconds + db.feature_seconds,
                      model=model_info, sources={"queries": q.source, "database": db.source},
                      warnings=notes, order_seed=seed)


def database_order(n: int, seed: int = 0) -> np.ndarray:
    """The seeded random order in which :func:`evaluate_model` ranks a database of ``n``."""
    return np.random.default_rng(seed).permutation(n)

