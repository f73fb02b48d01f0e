"""The off-line pipeline as library functions named like the CLI: fit, encode, build.

``fit`` learns one hash model from one or more collections (the paper's setting: one hash
model, many candidate datasets), ``encode`` maps a collection to codes with a saved model,
``build`` runs fit -> encode -> graph -> rank on one collection into one store. A
collection is an image folder or an existing store (its recorded collection and feature
cache are reused).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone, FitData, FitImages, GraphBuilder, Hasher, Ranker
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.features import extract_collection, forward_files, pending_paths
from dhr_sdk.model.hash_model import HashModel, load_model, save_model
from dhr_sdk.offline.computed import Computed
from dhr_sdk.offline.relevance import graph_and_rank
from dhr_sdk.store import CodesRecord, CollectionRecord, Store, staged
from dhr_sdk.store.provenance import provenance_of


@dataclass
class FeatureOptions:
    """How backbone features are computed (DataLoader batch size, workers, device)."""

    batch_size: int = 64
    workers: int = 0
    device: str = "cpu"


def _is_store(path: Path) -> bool:
    return path.is_file()


def _source(collection: str | Path, out: str | Path, work: str | Path) -> str | Path:
    """``collection``, or the working copy ``work`` when it is the store being written."""
    try:
        return work if os.path.samefile(collection, out) else collection
    except OSError:
        return collection


def open_collection(source: str | Path, labels_file: str | Path | None = None,
                    tags_file: str | Path | None = None) -> Collection:
    """A folder of images, or the collection recorded in an existing store."""
    p = Path(source)
    if not p.exists():
        raise DhrError(f"collection {p} does not exist")
    if _is_store(p):
        col = Collection.from_record(Store(p).read_collection())
        return col.with_side_files(labels_file, tags_file)
    return Collection.from_folder(p, labels_file, tags_file)


@dataclass(frozen=True)
class FeatureRequest:
    """The features of ``source`` (with optional side files), cached in ``store``."""

    source: str | Path
    store: str | Path | None
    labels_file: str | Path | None = None
    tags_file: str | Path | None = None


def collection_features(source: str | Path, backbone: Backbone, *, store: str | Path | None,
                        labels_file: str | Path | None = None,
                        tags_file: str | Path | None = None,
                        options: FeatureOptions | None = None,
                        progress: Progress = QUIET, computed: Computed | None = None
                        ) -> tuple[np.ndarray, CollectionRecord]:
    """Features and collection record of ``source``, cached in ``store`` (a store source is
    its own cache; a folder without ``store`` uses a temporary one). Features not cached
    come from ``computed`` when given (a distributed run), else from the backbone here."""
    o = options or FeatureOptions()
    col = open_collection(source, labels_file, tags_file)
    if store is None and _is_store(Path(source)):
        store = source
    with tempfile.TemporaryDirectory(prefix="dhr-") as tmp:
        target = store if store is not None else Path(tmp) / "features.h5"
        res = extract_collection(target, col, backbone, batch_size=o.batch_size,
                                 workers=o.workers, device=o.device, progress=progress,
                                 forward=computed.forward if computed else forward_files)
    return res.features.features, res.collection


def images_to_compute(request: FeatureRequest, backbone: Backbone) -> list[str]:
    """The image files :func:`collection_features` would run ``backbone`` on for
    ``request`` (none when its store caches them); nothing is written."""
    col = open_collection(request.source, request.labels_file, request.tags_file)
    store = request.store
    if store is None and _is_store(Path(request.source)):
        store = request.source
    return [str(p) for p in col.paths] if store is None else pending_paths(store, col, backbone)


def _dense(matrix: Any) -> np.ndarray | None:
    return None if matrix is None else np.asarray(matrix.toarray(), dtype=np.uint8)


def _stack_side(records: Sequence[CollectionRecord], kind: str
                ) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Labels or tags of several collections stacked, when every collection has the same."""
    mats = [getattr(r, kind) for r in records]
    names = [tuple(getattr(r, f"{kind[:-1]}_names")) for r in records]
    if all(m is None for m in mats):
        return None, ()
    if any(m is None for m in mats) or len(set(names)) != 1:
        raise DhrError(f"the collections do not all have {kind} with the same names; "
                       f"give {kind} for every collection or for none")
    dense = [_dense(m) for m in mats]
    return np.concatenate([d for d in dense if d is not None]), names[0]


def fit_images(records: Sequence[CollectionRecord], backbone: Backbone,
               options: FeatureOptions | None = None) -> FitImages:
    """The images of ``records`` in feature-row order, for a hasher that fine-tunes
    ``backbone`` (decoded on the fly through the backbone's own preprocessing)."""
    from dhr_sdk.data.loader import FileImages

    o = options or FeatureOptions()
    paths = [str(p) for rec in records for p in Collection.from_record(rec).paths]
    return FitImages(FileImages(paths, backbone.transform()), backbone, device=o.device,
                     workers=o.workers)


def fit(collections: Sequence[str | Path], out: str | Path, hasher: Hasher,
        backbone: Backbone, *, train: str | Path | None = None,
        train_labels: str | Path | None = None, tags_file: str | Path | None = None,
        cache: bool = True, options: FeatureOptions | None = None,
        progress: Progress = QUIET, computed: Computed | None = None) -> HashModel:
    """Fit ``hasher`` (an unfitted instance, fitted in place) on the ``backbone`` features
    of ``collections`` (plus an optional labeled training collection, GAH's TP-A set) and
    save the model to ``out``.

    Store sources keep their feature cache; with ``cache`` and a single folder the features
    are cached in ``out`` (the model file is a store too). ``out`` is written once, at the
    end (:func:`dhr_sdk.store.staged`). ``computed``: features a cluster computed.
    """
    check_fit_inputs(collections, hasher, train, train_labels, tags_file)
    with staged(out) as work:
        requests = fit_requests(collections, out, work, cache, tags_file, train, train_labels)
        return _fit_into(work, requests, hasher, backbone, train is not None, options,
                         progress, computed)


def check_fit_inputs(collections: Sequence[str | Path], hasher: Hasher,
                     train: str | Path | None, train_labels: str | Path | None,
                     tags_file: str | Path | None) -> None:
    """The checks :func:`fit` makes before any work."""
    if not collections:
        raise DhrError("give at least one collection to fit on")
    if tags_file is not None and len(collections) != 1:
        raise DhrError("--tags applies to a single collection; record tags in each store "
                       "with 'dhr features --tags' to fit on several")
    if (train is None) != (train_labels is None):
        raise DhrError("--train and --labels must be given together")
    _check_train(hasher, train)


def fit_requests(collections: Sequence[str | Path], out: str | Path, work: str | Path,
                 cache: bool, tags_file: str | Path | None = None,
                 train: str | Path | None = None, train_labels: str | Path | None = None
                 ) -> list[FeatureRequest]:
    """The features :func:`fit` reads into the working copy ``work`` of ``out``: one
    request per collection, then the training set's (``work=out`` plans them)."""
    single_folder = len(collections) == 1 and not _is_store(Path(collections[0]))
    cache_at = work if (cache and single_folder) else None
    requests = [FeatureRequest(_source(src, out, work), cache_at, None, tags_file)
                for src in collections]
    if train is not None:
        requests.append(FeatureRequest(train, None, train_labels))
    return requests


def _check_train(h: Hasher, train: str | Path | None) -> None:
    """A hasher that needs a labeled training set gets one (checked before any work)."""
    if "train" in h.required_inputs() and train is None:
        raise DhrError(f"hasher {h.name!r} needs train: give --train DIR --labels FILE")


def _fit_into(work: Path, requests: Sequence[FeatureRequest], h: Hasher, bb: Backbone,
              has_train: bool, options: FeatureOptions | None, progress: Progress,
              computed: Computed | None) -> HashModel:
    """:func:`fit` into the working copy ``work`` of the model file, from ``requests``
    (:func:`fit_requests`: the collections', then the training set's when ``has_train``)."""
    hasher = h.name
    feats, records = [], []
    for req in requests[:len(requests) - has_train]:
        progress.log(f"features of {req.source} ({bb.name})")
        f, rec = collection_features(req.source, bb, store=req.store, tags_file=req.tags_file,
                                     options=options, progress=progress, computed=computed)
        feats.append(f)
        records.append(rec)
    labels, label_names = _stack_side(records, "labels")
    tags, tag_names = _stack_side(records, "tags")
    train_x = train_y = None
    if has_train:
        req = requests[-1]
        progress.log(f"features of the labeled training set {req.source}")
        train_x, train_rec = collection_features(req.source, bb, store=None,
                                                 labels_file=req.labels_file, options=options,
                                                 progress=progress, computed=computed)
        train_y = _dense(train_rec.labels)
        label_names = label_names or tuple(train_rec.label_names)
    needs = h.required_inputs()
    images = fit_images(records, bb, options) if "images" in needs else None
    data = FitData(features=np.concatenate(feats), labels=labels, tags=tags,
                   label_names=label_names, tag_names=tag_names, train_features=train_x,
                   train_labels=train_y, images=images)
    missing = {"labels": data.labels is None, "tags": data.tags is None,
               "train": data.train_features is None}
    need = sorted(r for r in needs if missing.get(r, False))
    if need:
        raise DhrError(f"hasher {hasher!r} needs {', '.join(need)}: give "
                       + ", ".join({"labels": "labels in the collection stores",
                                    "tags": "--tags FILE",
                                    "train": "--train DIR --labels FILE"}[n] for n in need))
    progress.log(f"fitting {hasher} ({h.n_bits} bits) on {data.features.shape[0]} images")
    h.fit(data, progress)
    model = HashModel(h, bb.name, bb.params.model_dump(mode="json"))
    save_model(model, work)
    return model


def encode(collection: str | Path, model: str | Path | HashModel, out: str | Path, *,
           labels_file: str | Path | None = None, tags_file: str | Path | None = None,
           options: FeatureOptions | None = None, progress: Progress = QUIET,
           computed: Computed | None = None) -> CodesRecord:
    """Codes of ``collection`` under ``model`` (a model file or object), written with the
    model into the store ``out`` (features cached there), in one write. ``computed``:
    features (and codes) a cluster computed."""
    hm = model if isinstance(model, HashModel) else load_model(model)
    bb = hm.make_backbone()
    with staged(out) as work:
        req = encode_request(collection, out, work, labels_file, tags_file)
        feats, col = collection_features(req.source, bb, store=req.store,
                                         labels_file=labels_file, tags_file=tags_file,
                                         options=options, progress=progress,
                                         computed=computed)
        progress.log(f"encoding {feats.shape[0]} images with {hm.hasher.name} "
                     f"({hm.n_bits} bits)")
        given = None if computed is None else computed.codes_of(
            [str(p) for p in Collection.from_record(col).paths])
        codes = hm.encode(feats) if given is None else given
        rec = CodesRecord(codes, hm.n_bits, provenance_of(hm.hasher))
        with Store(work).edit() as w:
            w.write_model(hm.to_record())
            w.write_codes(rec)
    return rec


def encode_request(collection: str | Path, out: str | Path, work: str | Path,
                   labels_file: str | Path | None = None, tags_file: str | Path | None = None
                   ) -> FeatureRequest:
    """The features :func:`encode` reads into the working copy ``work`` of ``out``."""
    return FeatureRequest(_source(collection, out, work), work, labels_file, tags_file)


def build(collection: str | Path, out: str | Path, model: Hasher | HashModel, *,
          builder: GraphBuilder, ranker: Ranker, backbone: Backbone | None = None,
          options: FeatureOptions | None = None, progress: Progress = QUIET,
          computed: Computed | None = None, **fit_kwargs: Any) -> Store:
    """Everything off-line for one collection into one store: fit ``model`` when it is an
    unfitted hasher (on ``backbone`` features; a fitted :class:`HashModel` skips it), then
    encode, graph with ``builder``, rank with ``ranker``.

    The inputs are checked before anything is written, and the store is written once, at
    the end: an error or a kill at any point leaves the previous store as it was
    (:func:`dhr_sdk.store.staged`). ``computed``: features (and codes) a cluster computed.
    """
    if isinstance(model, Hasher):
        if backbone is None:
            raise DhrError("give the backbone whose features the hasher learns from")
        _check_train(model, fit_kwargs.get("train"))
        bb = backbone
    steps = 3 if isinstance(model, HashModel) else 4
    with staged(out) as work:
        src = _source(collection, out, work)
        if isinstance(model, Hasher):
            progress.log(f"[1/{steps}] fit {model.name}")
            hm = fit([src], work, model, bb, options=options, progress=progress,
                     computed=computed, **fit_kwargs)
        else:
            hm = model
        step = steps - 2
        progress.log(f"[{step}/{steps}] encode")
        encode(src, hm, work, options=options, progress=progress, computed=computed)
        progress.log(f"[{step + 1}/{steps}] graph {builder.name}, "
                     f"[{step + 2}/{steps}] rank {ranker.name}")
        graph_and_rank(work, builder, ranker, progress)
    return Store(out)
