"""LAGNH end to end on the built-in real data (short budget; the full run is the benchmark)."""

from __future__ import annotations

import numpy as np
import pytest
from dhr_plugins.hashers.lagnh import LAGNH

from dhr_sdk.data.demo import load_demo_arrays
from dhr_sdk.metrics import map_at_k
from dhr_sdk.plugins import get_registry
from dhr_sdk.types import FitData


@pytest.mark.slow
def test_lagnh_beats_lsh_on_animal_mnist_pixels() -> None:
    demo = load_demo_arrays("animal-mnist")
    x = demo.images.reshape(len(demo), -1).astype(np.float32) / 255.0
    order = np.random.default_rng(0).permutation(len(demo))
    query, database = order[:300], order[300:4300]
    train = database[:2000]
    fit = FitData(features=x[train])              # no labels, no tags: pseudo-tags
    lagnh = LAGNH(n_bits=32, epochs=15, batch_size=500, n_anchors=500, att_dim=128,
                  hidden=256).fit(fit)
    assert lagnh.history_[-1]["total"] < lagnh.history_[0]["total"]
    lsh = get_registry().create("hasher", "lsh", {"n_bits": 32}).fit(fit)
    labels = demo.labels

    def score(h: object) -> float:
        enc = h.encode  # type: ignore[attr-defined]
        return map_at_k(enc(x[query]), enc(x[database]), labels[query], labels[database], 1000)

    assert score(lagnh) > score(lsh)
