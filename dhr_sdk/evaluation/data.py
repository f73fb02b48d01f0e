"""Labeled data for retrieval evaluation.

For fitting hashers on a split: features of a built-in demo set or of a labeled image
folder, through a backbone plugin, so hashers are evaluated on exactly the features they
would see in production (``pixels`` by default: no pretrained CNN weights offline).

For a fitted model (:func:`model_codes`): the model's codes of the user's own queries or
database — a labeled folder encoded through the model's backbone and hasher, or a store
that already holds codes (or features) and labels.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data.collection import LIST_SUFFIXES

DEFAULT_BACKBONE = "pixels"


@dataclass
class LabeledFeatures:
    """Backbone features with multi-hot labels (and optional tags), one row per image.

    ``image_dataset`` (a torch dataset of the preprocessed images, item ``i`` = row ``i``)
    and ``device`` serve hashers that fine-tune the backbone (``FitData.images``).
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    backbone: str
    backbone_params: dict[str, Any] = field(default_factory=dict)
    tags: np.ndarray | None = None
    tag_names: tuple[str, ...] = ()
    feature_seconds: float = 0.0
    image_dataset: Any = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        n = self.features.shape[0]
        if self.features.ndim != 2 or n == 0:
            raise DhrError(f"features must be a non-empty (n, d) array, got {self.features.shape}")
        if self.labels.shape[0] != n or (self.tags is not None and self.tags.shape[0] != n):
            raise DhrError("labels/tags must have one row per image")

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def multi_label(self) -> bool:
        return bool((self.labels.sum(axis=1) > 1).any())

    def describe(self) -> dict[str, Any]:
        """The ``dataset`` object of the evaluation JSON."""
        per_image = self.labels.sum(axis=1)
        return {
            "name": self.name, "n_images": len(self), "n_classes": len(self.class_names),
            "class_names": list(self.class_names), "multi_label": self.multi_label,
            "mean_labels_per_image": float(per_image.mean()),
            "unlabeled_images": int((per_image == 0).sum()),
            "feature_dim": int(self.features.shape[1]), "has_tags": self.tags is not None,
        }

    def backbone_plugin(self) -> Backbone:
        """A fresh instance of the backbone plugin that computed the features."""
        return _backbone(self.backbone, self.backbone_params)


def _backbone(name: str, params: dict[str, Any] | None) -> Backbone:
    return get_registry().create("backbone", name, params or {})


def demo_features(name: str, backbone: str = DEFAULT_BACKBONE,
                  backbone_params: dict[str, Any] | None = None, *,
                  batch_size: int = 256, device: str = "cpu",
                  progress: Progress = QUIET) -> LabeledFeatures:
    """Features of the built-in demo set ``name`` (see :mod:`dhr_sdk.datasets.demo`)."""
    from dhr_sdk.data.features import features_from_arrays
    from dhr_sdk.data.loader import ArrayImages
    from dhr_sdk.datasets.demo import load_demo_arrays

    bb = _backbone(backbone, backbone_params)
    arrays = load_demo_arrays(name)
    start = time.perf_counter()
    feats = features_from_arrays(arrays.images, bb, batch_size=batch_size, progress=progress,
                                 device=device)
    return LabeledFeatures(name, feats, np.asarray(arrays.labels, dtype=np.uint8),
                           tuple(arrays.class_names), bb.name,
                           bb.params.model_dump(mode="json"),
                           feature_seconds=time.perf_counter() - start,
                           image_dataset=ArrayImages(arrays.images, bb.transform()),
                           device=device)


def labeled_features(collection: Any, store_path: str | Path,
                     backbone: str = DEFAULT_BACKBONE,
                     backbone_params: dict[str, Any] | None = None, *,
                     batch_size: int = 64, workers: int = 0, device: str = "cpu",
                     progress: Progress = QUIET) -> LabeledFeatures:
    """Features of a labeled :class:`~dhr_sdk.data.collection.Collection`, cached in a store.

    The features go to (or are reused from) the store at ``store_path``. Unreadable images
    are skipped and reported by the data layer; images without any label stay in the set
    and are relevant to nothing (see :mod:`dhr_sdk.evaluation.metrics`).
    """
    from dhr_sdk.data.collection import Collection
    from dhr_sdk.data.features import extract_collection
    from dhr_sdk.data.loader import FileImages

    if collection.labels is None or collection.labels.shape[1] == 0:
        raise DhrError("evaluation needs labels: give a labels file that names at least one")
    bb = _backbone(backbone, backbone_params)
    res = extract_collection(store_path, collection, bb, batch_size=batch_size,
                             workers=workers, device=device, progress=progress)
    rec = res.collection
    if rec.labels is None:
        raise DhrError(f"the store {store_path} lost the collection's labels")
    tags = None if rec.tags is None else np.asarray(rec.tags.toarray() > 0, dtype=np.uint8)
    return LabeledFeatures(
        Path(rec.root).name, np.asarray(res.features.features, dtype=np.float32),
        np.asarray(rec.labels.toarray() > 0, dtype=np.uint8), tuple(rec.label_names),
        bb.name, bb.params.model_dump(mode="json"), tags=tags,
        tag_names=tuple(rec.tag_names), feature_seconds=res.seconds,
        image_dataset=FileImages([str(x) for x in Collection.from_record(rec).paths],
                                 bb.transform()),
        device=device)


# -- a fitted model on the user's own queries and database (no split, no refit) ----------

LABELS_OPTION = {"queries": "--query-labels", "database": "--database-labels"}


@dataclass
class LabeledCodes:
    """One side (``role``: the queries or the database) of a fitted model's evaluation: the
    model's packed codes of its images, their multi-hot labels over ``label_names``, and
    ``source``, the report's description of where both came from."""

    role: str
    codes: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    paths: tuple[str, ...]
    source: dict[str, Any]
    feature_seconds: float = 0.0
    encode_seconds: float = 0.0
    n_encoded: int = 0

    def __len__(self) -> int:
        return int(self.codes.shape[0])


def model_codes(model: Any, source: str | Path, labels: str | Path | None = None, *,
                role: str = "database", fingerprint: str = "", cache: str | Path | None = None,
                batch_size: int = 64, workers: int = 0, device: str = "cpu",
                progress: Progress = QUIET) -> LabeledCodes:
    """The codes and labels of ``source`` under ``model`` (a
    :class:`~dhr_sdk.model.hash_model.HashModel`).

    ``source`` is an image folder or a ``.txt`` list of image paths with a ``labels`` side
    file (docs/data.md), or a store. A folder goes through the model's backbone and hasher
    as ``dhr encode`` does, its features cached in the store ``cache`` (a temporary one when
    None). A store is only read: its codes when its model is this one (``fingerprint``,
    :func:`dhr_sdk.assessment.targets.model_fingerprint`), else its cached features of the model's
    backbone, encoded now; its recorded labels unless a ``labels`` file is given.
    """
    p = Path(source)
    if not p.exists():
        raise DhrError(f"{p} ({role}) does not exist")
    if p.is_file() and p.suffix.lower() not in LIST_SUFFIXES:  # a store
        return _store_codes(model, p, labels, role, fingerprint, progress)
    return _image_codes(model, p, labels, role, cache, batch_size, workers, device, progress)


def _label_matrix(matrix: Any, names: Sequence[str], where: str, fix: str) -> np.ndarray:
    if matrix is None or not names or matrix.nnz == 0:
        raise DhrError(f"{where} has no labels; {fix}")
    return np.asarray(matrix.toarray() > 0, dtype=np.uint8)


def _image_codes(model: Any, p: Path, labels: str | Path | None, role: str,
                 cache: str | Path | None, batch_size: int, workers: int, device: str,
                 progress: Progress) -> LabeledCodes:
    from dhr_sdk.data.collection import open_collection
    from dhr_sdk.data.features import extract_collection

    option = LABELS_OPTION.get(role, "a labels file")
    if labels is None:
        raise DhrError(f"{p} ({role}) needs labels: give {option} FILE (docs/data.md)")
    col = open_collection(p, labels)
    _label_matrix(col.labels, col.label_names, f"the labels file {labels}",
                  "it must name at least one label")
    backbone = model.make_backbone()
    progress.log(f"{role}: features of {p} ({backbone.name})")
    with tempfile.TemporaryDirectory(prefix="dhr-") as tmp:
        target = Path(cache) if cache is not None else Path(tmp) / "features.h5"
        target.parent.mkdir(parents=True, exist_ok=True)
        res = extract_collection(target, col, backbone, batch_size=batch_size,
                                 workers=workers, device=device, progress=progress)
    rec = res.collection
    start = time.perf_counter()
    codes = model.encode(res.features.features)
    encode_s = time.perf_counter() - start
    y = _label_matrix(rec.labels, rec.label_names, f"{p}", f"check {labels}")
    source = _describe_source(p, "folder" if p.is_dir() else "list", labels, rec, y,
                              "images", None if cache is None else str(cache))
    return LabeledCodes(role, codes, y, tuple(rec.label_names),
                        tuple(str(Path(rec.root) / i) for i in rec.image_ids), source,
                        res.seconds, encode_s, int(codes.shape[0]))


def _store_codes(model: Any, p: Path, labels: str | Path | None, role: str, fingerprint: str,
                 progress: Progress) -> LabeledCodes:
    from dataclasses import replace

    from dhr_sdk.data.sidefiles import read_side_file
    from dhr_sdk.store import Store

    store = Store(p)
    if not store.has("collection"):
        raise DhrError(f"{p} has no collection (image ids); it is not a store of encoded "
                       "images (make one with 'dhr encode')")
    rec = store.read_collection()
    if labels is not None:
        table = read_side_file(labels, rec.image_ids, "labels")
        rec = replace(rec, labels=table.matrix, label_names=table.names)
    y = _label_matrix(rec.labels, rec.label_names, f"the store {p}",
                      f"give {LABELS_OPTION.get(role, 'a labels file')} FILE, or encode it "
                      "with 'dhr encode ... --labels FILE'")
    codes, how, encode_s = _store_model_codes(store, model, fingerprint, len(rec.image_ids))
    progress.log(f"{role}: {len(rec.image_ids)} codes of {p} ({how})")
    source = _describe_source(p, "store", labels, rec, y, how, None)
    return LabeledCodes(role, codes, y, tuple(rec.label_names),
                        tuple(str(Path(rec.root) / i) for i in rec.image_ids), source, 0.0,
                        encode_s, 0 if how == "store codes" else int(codes.shape[0]))


def _store_model_codes(store: Any, model: Any, fingerprint: str,
                       n: int) -> tuple[np.ndarray, str, float]:
    """``(codes, "store codes" | "store features", encode seconds)`` of a store's images
    under ``model``, or a one-line error saying why the store cannot give them."""
    from dhr_sdk.assessment.targets import model_fingerprint
    from dhr_sdk.data.features import features_key

    p = store.path
    stored = store.read_codes() if store.has("codes") else None
    own = store.has("model") and model_fingerprint(store.read_model()) == fingerprint
    if stored is not None and own and stored.n_bits == model.n_bits \
            and stored.codes.shape[0] == n:
        return stored.codes, "store codes", 0.0
    key = features_key(model.make_backbone())
    if key in store.feature_keys():
        feats = store.read_features(key).features
        if feats.shape[0] == n:
            start = time.perf_counter()
            codes = model.encode(feats)
            return codes, "store features", time.perf_counter() - start
    fix = (f"encode it with this model ('dhr encode {p} --model MODEL -o NEW.h5') or give "
           "the image folder")
    if stored is not None and stored.n_bits != model.n_bits:
        raise DhrError(f"code length mismatch: {p} holds {stored.n_bits}-bit codes, the model "
                       f"makes {model.n_bits}-bit codes (and the store has no features of its "
                       f"backbone to encode); {fix}")
    if stored is not None:
        raise DhrError(f"{p} holds codes of another model (and no features of this model's "
                       f"backbone to encode); {fix}")
    raise DhrError(f"{p} holds no codes and no features of the model's backbone ({key}); {fix}")


def _describe_source(p: Path, kind: str, labels: str | Path | None, rec: Any, y: np.ndarray,
                     codes_from: str, cache: str | None) -> dict[str, Any]:
    """A source in the report: what was read, how its codes were obtained."""
    return {"path": str(p), "kind": kind, "labels_file": None if labels is None else str(labels),
            "labels_from": "file" if labels is not None else "store",
            "n_images": int(y.shape[0]), "label_names": list(rec.label_names),
            "unlabeled_images": int((y.sum(axis=1) == 0).sum()),
            "skipped": len(rec.skipped), "codes_from": codes_from, "feature_cache": cache}


def joint_labels(queries: LabeledCodes, database: LabeledCodes
                 ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Both sides' labels over the union of their label names (sorted), by name."""
    names = tuple(sorted(set(queries.label_names) | set(database.label_names)))
    col = {n: j for j, n in enumerate(names)}

    def widen(side: LabeledCodes) -> np.ndarray:
        out = np.zeros((len(side), len(names)), dtype=np.uint8)
        out[:, [col[n] for n in side.label_names]] = side.labels
        return out

    return widen(queries), widen(database), names


def describe_pair(queries: LabeledCodes, database: LabeledCodes, names: Sequence[str],
                  q_labels: np.ndarray, db_labels: np.ndarray, feature_dim: int) -> dict[str, Any]:
    """The ``dataset`` object of a fitted model's evaluation report (both sides together)."""
    both = np.concatenate([q_labels, db_labels])
    per_image = both.sum(axis=1)
    return {
        "name": Path(database.source["path"]).name or database.source["path"],
        "n_images": int(both.shape[0]), "n_classes": len(names), "class_names": list(names),
        "multi_label": bool((per_image > 1).any()),
        "mean_labels_per_image": float(per_image.mean()),
        "unlabeled_images": int((per_image == 0).sum()), "feature_dim": int(feature_dim),
        "has_tags": False,
        "shared_labels": sorted(set(queries.label_names) & set(database.label_names)),
    }


def pair_warnings(q: LabeledCodes, db: LabeledCodes) -> list[str]:
    """Label names the two sides do not share, and images that are on both sides."""
    notes = []
    if not set(q.label_names) & set(db.label_names):
        notes.append(f"the queries and the database have no label in common (queries: "
                     f"{_names(q.label_names)}; database: {_names(db.label_names)}): no "
                     "database image is relevant to any query")
    both = len(set(q.paths) & set(db.paths))
    if both:
        notes.append(f"{both} of the {len(q)} query images are also in the database: each "
                     "retrieves itself at distance 0, which raises every metric")
    return notes


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
