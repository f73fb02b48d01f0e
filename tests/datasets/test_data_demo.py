"""Vendored demo arrays and multi-label composition."""

from __future__ import annotations

import numpy as np
import pytest

from dhr_sdk.core.errors import DhrError
from dhr_sdk.datasets.demo import ANIMAL_CLASSES, NAMES, load_demo_arrays
from dhr_sdk.datasets.multilabel import compose_multilabel


def test_single_label_sets_are_real_and_balanced() -> None:
    am = load_demo_arrays("animal-mnist")
    assert am.images.shape == (10000, 28, 28) and am.images.dtype == np.uint8
    assert am.labels.shape == (10000, 10) and am.labels.dtype == np.uint8
    assert (am.labels.sum(1) == 1).all() and (am.labels.sum(0) == 1000).all()
    assert am.class_names == ANIMAL_CLASSES
    # real silhouettes: mostly black background with a bright shape, many distinct images
    assert 0.05 < (am.images > 128).mean() < 0.6
    # the source holds a few exact duplicates (9,716 distinct of 10,000), kept as is
    assert len(np.unique(am.images.reshape(len(am), -1), axis=0)) == 9716
    mn = load_demo_arrays("mnist")
    assert mn.images.shape == (5000, 28, 28) and (mn.labels.sum(0) == 500).all()


def test_arrays_are_fresh_copies() -> None:
    a = load_demo_arrays("mnist")
    a.images[:] = 0
    assert load_demo_arrays("mnist").images.max() == 255


def test_multilabel_cooccurrence_and_determinism() -> None:
    d = load_demo_arrays("animal-multilabel")
    assert d.images.shape == (4000, 56, 56) and d.labels.shape == (4000, 10)
    n_labels = d.labels.sum(1)
    assert n_labels.min() >= 1 and n_labels.max() <= 4 and (n_labels > 1).mean() > 0.4
    horse, cow = d.class_names.index("horse"), d.class_names.index("cow")
    has_h = d.labels[:, horse] == 1
    assert abs(d.labels[has_h, cow].mean() - 0.7) < 0.05
    assert abs(d.labels[~has_h, cow].mean() - 0.1) < 0.03
    again = load_demo_arrays("animal-multilabel")
    assert np.array_equal(d.images, again.images) and np.array_equal(d.labels, again.labels)
    other = load_demo_arrays("animal-multilabel", seed=1, n=50)
    assert not np.array_equal(other.labels, d.labels[:50])


def test_multilabel_labels_match_tiles() -> None:
    """Independent check: every non-empty cell is a tile of a class in the label set."""
    base = load_demo_arrays("mnist")
    idx = base.class_index
    pool = np.arange(0, 5000, 7)
    imgs, labels = compose_multilabel(base.images, idx, base.class_names, n=60, grid=2,
                                      min_objects=1, max_objects=4, cooccur=("1", "7"),
                                      p_cooccur=1.0, p_alone=0.0, seed=3, pool=pool)
    lookup = {base.images[i].tobytes(): int(idx[i]) for i in pool}
    for img, lab in zip(imgs, labels, strict=True):
        present = set()
        for r in range(2):
            for q in range(2):
                tile = img[r * 28:(r + 1) * 28, q * 28:(q + 1) * 28]
                if tile.any():
                    present.add(lookup[tile.tobytes()])  # KeyError if not from the pool
        assert present == set(np.flatnonzero(lab))
        assert (1 in present) == (7 in present)  # p_cooccur=1, p_alone=0


def test_bad_names_and_options() -> None:
    with pytest.raises(DhrError, match="unknown demo set"):
        load_demo_arrays("cifar")
    with pytest.raises(DhrError, match="unknown multi-label"):
        load_demo_arrays("animal-multilabel", colour=True)
    with pytest.raises(DhrError, match="cooccur"):
        load_demo_arrays("animal-multilabel", cooccur=("horse", "unicorn"), n=5)
    with pytest.raises(DhrError, match="max_objects"):
        load_demo_arrays("animal-multilabel", max_objects=5, n=5)
    assert set(NAMES) == {"animal-mnist", "mnist", "animal-multilabel"}
