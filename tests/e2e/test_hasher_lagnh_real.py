"""LAGNH end to end on the built-in real data (smaller sets; the full run is the benchmark)."""

from __future__ import annotations

import numpy as np
import pytest
from dhr_plugins.hashers.lagnh import LAGNH

from dhr_sdk.core.interfaces import FitData
from dhr_sdk.core.registry import get_registry
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.evaluation.data import demo_features
from dhr_sdk.evaluation.metrics import map_at_k
from dhr_sdk.evaluation.protocol import hasher_grid, run_evaluation
from dhr_sdk.evaluation.spec import MetricSpec
from dhr_sdk.evaluation.split import SplitSpec


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


@pytest.mark.slow
def test_default_lagnh_beats_lsh_and_itq_on_animal_multilabel() -> None:
    """The default without tags (pseudo-tags + visual words of the dataset's images, given
    by the evaluation protocol) on the multi-object canvases, where pseudo-tags alone stay
    below ITQ and LSH (docs/hashers/lagnh.md). 2,000 training canvases, 300 queries."""
    data = demo_features("animal-multilabel", "pixels", {})
    report = run_evaluation(data, hasher_grid([("lagnh", {}), ("lsh", {}), ("itq", {})], [64]),
                            SplitSpec(n_queries=300, n_train=2000), MetricSpec(topk=(1000,)))
    scores = {r.hasher: r.metrics.map_at["1000"] for r in report.results if r.metrics}
    assert report.results[0].info["requires"] == ["images"]
    assert scores["lagnh"] > max(scores["lsh"], scores["itq"]) + 0.01, scores
