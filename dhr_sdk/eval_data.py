"""Labeled features for retrieval evaluation: built-in demo sets or a labeled image folder.

Both paths go through a backbone plugin, so hashers are evaluated on exactly the features
they would see in production (``pixels`` by default: no pretrained CNN weights offline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.errors import DhrError
from dhr_sdk.interfaces import Backbone
from dhr_sdk.plugins import get_registry
from dhr_sdk.progress import QUIET, Progress

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
    bb = get_registry().create("backbone", name, params or {})
    if not isinstance(bb, Backbone):
        raise DhrError(f"plugin {name!r} is not a backbone")
    return bb


def demo_features(name: str, backbone: str = DEFAULT_BACKBONE,
                  backbone_params: dict[str, Any] | None = None, *,
                  batch_size: int = 256, device: str = "cpu",
                  progress: Progress = QUIET) -> LabeledFeatures:
    """Features of the built-in demo set ``name`` (see :mod:`dhr_sdk.data.demo`)."""
    from dhr_sdk.data._loader import ArrayImages
    from dhr_sdk.data.demo import load_demo_arrays
    from dhr_sdk.data.features import features_from_arrays

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


def collection_features(collection: Any, store_path: str | Path,
                        backbone: str = DEFAULT_BACKBONE,
                        backbone_params: dict[str, Any] | None = None, *,
                        batch_size: int = 64, workers: int = 0, device: str = "cpu",
                        progress: Progress = QUIET) -> LabeledFeatures:
    """Features of a labeled :class:`~dhr_sdk.data.collection.Collection`, cached in a store.

    The features go to (or are reused from) the store at ``store_path``. Unreadable images
    are skipped and reported by the data layer; images without any label stay in the set
    and are relevant to nothing (see :mod:`dhr_sdk.metrics`).
    """
    from dhr_sdk.data._loader import FileImages
    from dhr_sdk.data.collection import Collection
    from dhr_sdk.data.features import extract_collection

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
