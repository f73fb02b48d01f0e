"""GAH on the built-in real data (slow): beats ITQ on the same pixel features."""

from __future__ import annotations

import numpy as np
import pytest
from dhr_plugins.hashers.gah import GAHHasher
from dhr_plugins.hashers.itq import ITQHasher

from dhr_sdk.core.interfaces import FitData
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.evaluation.metrics import evaluate_retrieval


@pytest.mark.slow
def test_gah_beats_itq_on_animal_mnist_subset() -> None:
    d = load_demo_arrays("animal-mnist")
    x = d.images.reshape(len(d), -1).astype(np.float32) / 255.0
    perm = np.random.default_rng(0).permutation(len(d))
    q, db, train = perm[:200], perm[200:2200], perm[2200:4200]
    fd = FitData(features=x[db], label_names=d.class_names, train_features=x[train],
                 train_labels=d.labels[train])
    gah = GAHHasher(n_bits=32, image_dim=512, gcn_dims=[256], max_tps=1,
                    max_stage_epochs=6, stage_tol=0.0).fit(fd)
    itq = ITQHasher(n_bits=32).fit(FitData(features=x[train]))
    scores = {}
    for name, h in (("gah", gah), ("itq", itq)):
        m = evaluate_retrieval(h.encode(x[q]), h.encode(x[db]), d.labels[q], d.labels[db])
        scores[name] = (m.map_at["1000"], m.precision_radius)
    assert scores["gah"][0] > scores["itq"][0] + 0.1, scores
    assert scores["gah"][1] > scores["itq"][1], scores
