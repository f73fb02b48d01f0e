"""benchmarks/retrieval_ceiling.py: its float-score mAP@K is the metrics module's mAP@K."""

from __future__ import annotations

import numpy as np

from dhr_sdk.codes.packing import pack_bits
from dhr_sdk.evaluation.metrics import evaluate_retrieval
from dhr_sdk.evaluation.split import SplitSpec
from tests.benchtools import load_benchmark


def test_map_at_k_matches_hamming_metrics_with_ties() -> None:
    rng = np.random.default_rng(0)
    bits_q = rng.integers(0, 2, (40, 16)).astype(bool)
    bits_db = rng.integers(0, 2, (300, 16)).astype(bool)
    ql = rng.integers(0, 2, (40, 5)).astype(np.uint8)
    dbl = rng.integers(0, 2, (300, 5)).astype(np.uint8)
    dist = (bits_q[:, None, :] != bits_db[None, :, :]).sum(axis=2)
    ref = evaluate_retrieval(pack_bits(bits_q), pack_bits(bits_db), ql, dbl, topk=(100,))
    got = load_benchmark("retrieval_ceiling").map_at_k(-dist.astype(float), ql, dbl, k=100)
    assert abs(got - ref.map_at["100"]) < 1e-12


def test_ceilings_on_separable_clusters() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    x = np.eye(4)[y] * 3.0 + rng.normal(0, 0.1, (400, 4)) + 1.0
    labels = np.eye(4, dtype=np.uint8)[y]
    out = load_benchmark("retrieval_ceiling").ceilings(x, labels, SplitSpec(n_queries=50))
    assert out["exact cosine"] > 0.99 and out["exact euclidean"] > 0.99
    assert out["random"] < 0.4
    assert "patch words 128" not in out  # a 2 × 2 "raster" is too small for 7 × 7 patches
