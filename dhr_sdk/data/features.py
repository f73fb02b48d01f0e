"""Feature extraction through a backbone plugin, batched with a DataLoader, cached in the store.

Features live in the collection's store under ``/features/<key>``, ``key`` =
``<backbone name>-<digest of its params>`` (a weights *file* named in the params enters the
digest by content; a hash model's fine-tuned weights make it ``<name>-ft-<digest>``), one
row per image id of the store's ``collection`` element. A second call with the same
collection and backbone reads them back instead of recomputing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.core.digest import param_file_digests
from dhr_sdk.core.errors import DhrError, MissingElementError
from dhr_sdk.core.interfaces import Backbone
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.data.collection import Collection
from dhr_sdk.store import CollectionRecord, FeaturesRecord, Store
from dhr_sdk.store.provenance import provenance_of


def features_key(backbone: Backbone) -> str:
    """Cache key: backbone name + digest of its params (files named in params by content)
    and of weights the params do not name (a hash model's fine-tuned backbone)."""
    params = backbone.params.model_dump(mode="json")
    content: dict[str, object] = {"params": params, "files": param_file_digests(params)}
    token = backbone.weights_token()
    if token:
        content["weights"] = token
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    return f"{backbone.name}-{'ft-' if token else ''}{digest}"


def features_from_arrays(images: np.ndarray, backbone: Backbone, batch_size: int = 256,
                         progress: Progress = QUIET, device: str = "cpu",
                         workers: int = 0) -> np.ndarray:
    """Features (n, d) float32 of in-memory uint8 images via the backbone's own transform."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] != 3):
        raise DhrError(f"expected uint8 images (n, h, w) or (n, h, w, 3), got {arr.dtype} "
                       f"{arr.shape}")
    from dhr_sdk.data.loader import ArrayImages, run_batches

    feats, _ = run_batches(ArrayImages(arr, backbone.transform()), arr.shape[0], backbone,
                    batch_size=batch_size, workers=workers, device=device, progress=progress)
    return feats


@dataclass
class FeaturesResult:
    """What :func:`extract_collection` did: the features, the stored collection, the cache."""

    features: FeaturesRecord
    collection: CollectionRecord
    cached: bool
    seconds: float
    newly_skipped: dict[str, str] = field(default_factory=dict)


def _same_names(a: Any, a_names: list[str], b: Any, b_names: list[str]) -> bool:
    if (a is None) != (b is None):
        return False
    return a is None or (a_names == b_names and a.shape == b.shape and (a != b).nnz == 0)


def _matches(stored: CollectionRecord, col: Collection) -> Collection | None:
    """``col`` minus the files the store found unreadable, if it is the stored collection."""
    if not stored.signature or stored.signature != col.signature_like(stored.signature):
        return None
    failed = dict(zip(stored.skipped, stored.skipped_reasons, strict=True))
    try:
        current = col.without({i: failed[i] for i in col.image_ids if i in failed})
    except DhrError:
        return None
    same = (current.image_ids == stored.image_ids
            and _same_names(current.labels, current.label_names, stored.labels,
                            stored.label_names)
            and _same_names(current.tags, current.tag_names, stored.tags, stored.tag_names))
    return current if same else None


Forward = Callable[..., tuple[np.ndarray, dict[int, str]]]
"""``forward(paths, backbone, batch_size=, workers=, device=, progress=)``: features
``(len(paths), d)`` of image files and ``{row: reason}`` for those that failed to decode."""


def forward_files(paths: Sequence[str], backbone: Backbone, *, batch_size: int, workers: int,
                  device: str, progress: Progress) -> tuple[np.ndarray, dict[int, str]]:
    """The default :data:`Forward`: decode and run the backbone here, batch by batch."""
    from dhr_sdk.data.loader import FileImages, run_batches

    files = FileImages(list(paths), backbone.transform())
    return run_batches(files, len(files), backbone, batch_size=batch_size, workers=workers,
                       device=device, progress=progress)


def _plan(store: Store, collection: Collection, key: str, recompute: bool
          ) -> tuple[CollectionRecord | None, Collection | None, FeaturesRecord | None]:
    """Stored collection, the collection to extract matched against it, cached features."""
    stored = store.read_collection() if store.has("collection") else None
    current = _matches(stored, collection) if stored is not None else None
    if current is not None and stored is not None and not recompute \
            and key in store.feature_keys():
        rec = store.read_features(key)
        if rec.features.shape[0] == len(stored.image_ids):
            return stored, current, rec
    return stored, current, None


def pending_paths(store_path: str | Path, collection: Collection, backbone: Backbone
                  ) -> list[str]:
    """The image files :func:`extract_collection` would run ``backbone`` on (none when the
    store caches them), without writing anything: what a distributed run must compute."""
    if not Path(store_path).exists():
        return [str(p) for p in collection.paths]
    _, current, cached = _plan(Store(store_path), collection, features_key(backbone), False)
    if cached is not None:
        return []
    return [str(p) for p in (current if current is not None else collection).paths]


def extract_collection(store_path: str | Path, collection: Collection, backbone: Backbone, *,
                       batch_size: int = 64, workers: int = 2, device: str = "cpu",
                       progress: Progress = QUIET, recompute: bool = False,
                       forward: Forward = forward_files) -> FeaturesResult:
    """Ensure the store holds ``collection`` and its ``backbone`` features; see module doc.

    The collection element is (re)written when absent or different (other ids, changed
    files, other labels/tags) — which drops the elements computed from the old one.
    Unreadable images are removed from the ids and listed in ``skipped``. ``forward``
    computes the features that are not cached (a distributed run passes its results).
    """
    start = time.perf_counter()
    store = Store.open_or_create(store_path)
    key = features_key(backbone)
    stored, current, cached = _plan(store, collection, key, recompute)
    if cached is not None and stored is not None:
        progress.log(f"features {key}: reusing the cache in {store.path}")
        return FeaturesResult(cached, stored, True, time.perf_counter() - start)
    target = current if current is not None else collection
    signature = collection.signature()  # before the forward: a file changed during it is stale
    feats, failed_rows = forward([str(p) for p in target.paths], backbone,
                                 batch_size=batch_size, workers=workers, device=device,
                                 progress=progress)
    failed = {target.image_ids[r]: why for r, why in sorted(failed_rows.items())}
    final = target.without(failed)
    keep = np.setdiff1d(np.arange(len(target)), np.fromiter(failed_rows, dtype=np.int64))
    rec = FeaturesRecord(key, feats[keep], backbone.name,
                         backbone.params.model_dump(mode="json"))
    record = final.to_record(signature=signature)
    with store.edit() as w:
        if current is None or failed:
            w.write_collection(record)
        w.write_features(rec, provenance_of(backbone))
    if final.skipped:
        pairs = list(zip(final.skipped, final.skipped_reasons, strict=True))
        progress.log(f"skipped {len(pairs)} unusable file(s): "
                     + "; ".join(f"{i}: {r}" for i, r in pairs[:5])
                     + (" ..." if len(pairs) > 5 else ""))
    return FeaturesResult(rec, store.read_collection(), False, time.perf_counter() - start,
                          failed)


def ensure_features(store_path: str | Path, collection: Collection, backbone: Backbone, *,
                    batch_size: int = 64, workers: int = 2, device: str = "cpu",
                    progress: Progress = QUIET) -> FeaturesRecord:
    """Features of ``collection`` by ``backbone``, from the store's cache or computed."""
    return extract_collection(store_path, collection, backbone, batch_size=batch_size,
                              workers=workers, device=device, progress=progress).features


@dataclass
class StoredFeatures:
    """A store's features with the image ids (rows) they belong to."""

    image_ids: list[str]
    features: np.ndarray
    key: str
    backbone: str
    backbone_params: dict[str, object]


def load_features(store_path: str | Path, key: str | Backbone | None = None) -> StoredFeatures:
    """Read features (and their image ids) from a store; ``key`` may be a backbone instance.

    Without ``key`` the store must hold exactly one feature set.
    """
    store = Store(store_path)
    keys = store.feature_keys()
    if isinstance(key, Backbone):
        key = features_key(key)
    if key is None:
        if len(keys) != 1:
            raise MissingElementError(
                f"{store.path} holds {len(keys)} feature sets ({', '.join(keys) or 'none'}); "
                "name one" if keys else f"{store.path} has no features; run 'dhr features'")
        key = keys[0]
    rec = store.read_features(key)
    ids = store.read_collection().image_ids
    return StoredFeatures(ids, rec.features, rec.key, rec.backbone, rec.backbone_params)
