"""Shared pieces of the classic (shallow) baselines: input checks, PCA, projection hashers.

LSH, PCAH and ITQ all hash ``sign((x - mean) @ W)`` with a learned or random ``W``; they
share :class:`ProjectionHasher` and differ only in how ``fit`` chooses ``W``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from dhr_sdk import DhrError, Hasher, check_features, pack_bits


def pca(centred: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Top principal directions ``(d, k)`` and their variances, by decreasing variance.

    Eigen-decomposition of the covariance; each direction's sign is fixed (largest-magnitude
    entry positive) so the result does not depend on the LAPACK build.
    """
    n = centred.shape[0]
    cov = centred.T @ centred / max(n - 1, 1)
    values, vectors = np.linalg.eigh(cov)
    top = np.argsort(values, kind="stable")[::-1][:n_components]
    w = vectors[:, top]
    flip = np.sign(w[np.abs(w).argmax(axis=0), np.arange(w.shape[1])])
    w = w * np.where(flip == 0, 1.0, flip)
    return w, values[top]


def check_pca_bits(name: str, n_bits: int, x: np.ndarray) -> None:
    """PCA-based codes need one principal direction per bit."""
    limit = min(x.shape[1], x.shape[0] - 1)
    if n_bits > limit:
        raise DhrError(f"{name}: {n_bits} bits need at least {n_bits} feature dimensions and "
                       f"{n_bits + 1} training images (have {x.shape[1]} and {x.shape[0]})")


class ProjectionHasher(Hasher):
    """Base of hashers that encode ``bit_j = [(x - mean_) @ projection_[:, j] > 0]``."""

    summary: ClassVar[str] = ""
    mean_: np.ndarray
    projection_: np.ndarray

    def encode(self, features: np.ndarray) -> np.ndarray:
        self.check_fitted()
        x = check_features(features, self.name, self.mean_.shape[0])
        return pack_bits((x - self.mean_) @ self.projection_ > 0)

    def get_state(self) -> dict[str, np.ndarray]:
        self.check_fitted()
        return {"mean": self.mean_.copy(), "projection": self.projection_.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> ProjectionHasher:
        mean = np.asarray(state["mean"], dtype=np.float64)
        projection = np.asarray(state["projection"], dtype=np.float64)
        if projection.shape != (mean.shape[0], self.n_bits):
            raise DhrError(f"{self.name}: stored projection {projection.shape} does not match "
                           f"{mean.shape[0]} dimensions x {self.n_bits} bits")
        self.mean_, self.projection_ = mean, projection
        return self
