"""How far above chance can retrieval on a demo set's features get, with no hashing at all?

Measured on the retrieval benchmark's split (same seed, queries, database, relevance and
tie rule as ``benchmarks/retrieval.py``), mAP@K of rankings by float scores:

- ``random``: a random score (the chance level of mAP@K);
- ``exact cosine`` / ``exact euclidean`` / ``exact centred cosine``: exact kNN on the
  features (centred with the training mean, as ITQ/LSH see them) — the ceiling a hasher
  that preserves that similarity can approach;
- ``pseudo-tags t of k``: ranking by ``S^a``, the cosine of LAGNH's label-free k-means
  pseudo-tag sets (``_lagnh_tags``, centres fitted on the training rows) — the target
  that LAGNH's reconstruction loss (Eq. 9, weight 100) fits its codes to;
- ``patch words k`` (only for square grayscale pixel features of side >= 14): ``S^a`` of a bag of
  visual words — k-means on the non-empty 7×7 patches of the training images, each image
  tagged with the words of its patches — a position-invariant, label-free tag set.

Labels are used only to score the rankings. Usage::

    python benchmarks/retrieval_ceiling.py --dataset animal-multilabel,animal-mnist
"""

from __future__ import annotations

import argparse
import math
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from dhr_plugins.hashers.lagnh.tags import fit_pseudo_centres, pseudo_tags
from sklearn.cluster import KMeans

from dhr_sdk.evaluation.data import DEFAULT_BACKBONE, demo_features
from dhr_sdk.evaluation.split import SplitSpec, split_indices

PATCH = 7
INK = 0.02  # a patch with mean intensity (unit pixels) above this is "non-empty"


def map_at_k(scores: np.ndarray, query_labels: np.ndarray, db_labels: np.ndarray,
             k: int = 1000) -> float:
    """mAP@k of rankings by descending ``scores`` (q, n_db); ties keep database order.

    Same definition as :mod:`dhr_sdk.evaluation.metrics`: AP divides by the relevant items in
    the top k, a query without relevant items in the top k scores 0.
    """
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rel = (query_labels.astype(np.float32) @ db_labels.astype(np.float32).T) > 0
    hit = np.take_along_axis(rel, order, axis=1)
    precision = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    n_hit = hit.sum(axis=1)
    ap = np.where(n_hit > 0, (precision * hit).sum(axis=1) / np.maximum(n_hit, 1), 0.0)
    return float(ap.mean())


def unit(a: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def patch_words(x: np.ndarray, train: np.ndarray, n_words: int, seed: int) -> np.ndarray:
    """Multi-hot bag of visual words of square grayscale raster rows ``x``."""
    side = math.isqrt(x.shape[1])
    img = x.reshape(len(x), side, side)
    pos = range(0, side - PATCH + 1, PATCH)
    p = np.stack([img[:, r:r + PATCH, c:c + PATCH].reshape(len(x), -1)
                  for r in pos for c in pos], axis=1)
    full = p.mean(axis=2) > INK
    km = KMeans(n_clusters=n_words, n_init=3, random_state=seed)
    km.fit(p[train][full[train]].astype(np.float64))
    words = km.predict(p.reshape(-1, p.shape[2]).astype(np.float64)).reshape(p.shape[:2])
    rows, cols = np.nonzero(full)
    out = np.zeros((len(x), n_words), dtype=np.float32)
    out[rows, words[rows, cols]] = 1.0
    return out


def ceilings(x: np.ndarray, labels: np.ndarray, spec: SplitSpec,
             seed: int = 0) -> dict[str, float]:
    """Every ranking of the module docstring, by name -> mAP@1000."""
    sp = split_indices(len(x), spec)
    x = x.astype(np.float64)
    q, db = x[sp.query], x[sp.database]
    ql, dbl = labels[sp.query], labels[sp.database]
    out = {"random": map_at_k(np.random.default_rng(seed).random((len(q), len(db))), ql, dbl)}
    out["exact cosine"] = map_at_k(unit(q) @ unit(db).T, ql, dbl)
    d2 = (q * q).sum(1)[:, None] - 2.0 * q @ db.T + (db * db).sum(1)[None, :]
    out["exact euclidean"] = map_at_k(-d2, ql, dbl)
    mean = x[sp.train].mean(axis=0)
    out["exact centred cosine"] = map_at_k(unit(q - mean) @ unit(db - mean).T, ql, dbl)
    xf = x.astype(np.float32)
    for n_tags in (32, 128):
        centres = fit_pseudo_centres(xf[sp.train], n_tags, seed)
        for per in (1, 3):
            y = pseudo_tags(xf, centres, per)
            out[f"pseudo-tags {per} of {n_tags}"] = map_at_k(
                unit(y[sp.query]) @ unit(y[sp.database]).T, ql, dbl)
    side = math.isqrt(x.shape[1])
    if side * side == x.shape[1] and side >= 2 * PATCH:
        y = patch_words(xf, sp.train, 128, seed)
        out["patch words 128"] = map_at_k(unit(y[sp.query]) @ unit(y[sp.database]).T, ql, dbl)
    return out


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="animal-multilabel", help="Comma list of demo sets.")
    ap.add_argument("--seed", type=int, default=0, help="Seed of the split.")
    args = ap.parse_args(argv)
    for name in args.dataset.split(","):
        feats = demo_features(name.strip(), DEFAULT_BACKBONE)
        share = (feats.labels.astype(np.float32) @ feats.labels.T.astype(np.float32) > 0).mean()
        print(f"## {name} ({DEFAULT_BACKBONE}, split seed {args.seed}); "
              f"mean share of relevant pairs {share:.4f}")
        for key, value in ceilings(feats.features, feats.labels,
                                   SplitSpec(seed=args.seed), args.seed).items():
            print(f"{key:24s} mAP@1000 {value:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
