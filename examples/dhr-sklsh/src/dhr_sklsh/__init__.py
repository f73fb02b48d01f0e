"""Shift-invariant kernel LSH (SKLSH) as a dhr hasher plugin.

Raginsky & Lazebnik, "Locality-sensitive binary codes from shift-invariant kernels",
NIPS 2009: bit k is ``sgn(cos(w_k·x + b_k) + t_k)`` with random Fourier features of the
Gaussian kernel. With ``gamma`` unset, the bandwidth is fitted to the data as the inverse
median squared distance between sample pairs (a common heuristic; the paper fixes γ).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from dhr_sdk import QUIET, FitData, Hasher, HasherParams, Progress, hookimpl, pack_bits


class SKLSHParams(HasherParams):
    n_bits: int = Field(64, description="Code length in bits (multiple of 8, 8-256).")
    gamma: float | None = Field(
        None, gt=0, description="Gaussian kernel bandwidth γ; unset = 1 / median squared "
                                "pairwise distance of up to 1,000 training samples.")
    seed: int = Field(0, description="Seed of the random projections, phases and thresholds.")


class SKLSHHasher(Hasher):
    """Shift-invariant kernel LSH: random Fourier features, randomly thresholded."""

    params: SKLSHParams

    name = "sklsh"
    summary = "Shift-invariant kernel LSH (Raginsky & Lazebnik 2009), example plugin"
    Params = SKLSHParams
    conformance_params: ClassVar[dict[str, object]] = {"n_bits": 16}

    def fit(self, data: FitData, progress: Progress = QUIET) -> SKLSHHasher:
        x = np.asarray(data.features, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        gamma = self.params.gamma
        if gamma is None:
            sample = x[rng.permutation(len(x))[:1000]]
            d2 = ((sample[:, None, :] - sample[None, :, :]) ** 2).sum(-1)
            pairs = d2[np.triu_indices(len(sample), k=1)]
            median = float(np.median(pairs)) if pairs.size else 1.0
            gamma = 1.0 / median if median > 0 else 1.0
        self.gamma_ = np.float64(gamma)
        self.projections_ = rng.normal(0.0, np.sqrt(gamma), size=(x.shape[1], self.n_bits))
        self.phases_ = rng.uniform(0.0, 2 * np.pi, size=self.n_bits)
        self.thresholds_ = rng.uniform(-1.0, 1.0, size=self.n_bits)
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        self.check_fitted()
        z = np.cos(np.asarray(features, dtype=np.float64) @ self.projections_ + self.phases_)
        return pack_bits(z + self.thresholds_ > 0)

    def get_state(self) -> dict[str, np.ndarray]:
        self.check_fitted()
        return {"gamma": np.asarray(self.gamma_), "projections": self.projections_,
                "phases": self.phases_, "thresholds": self.thresholds_}

    def set_state(self, state: dict[str, np.ndarray]) -> SKLSHHasher:
        self.gamma_ = np.float64(state["gamma"])
        self.projections_ = np.asarray(state["projections"])
        self.phases_ = np.asarray(state["phases"])
        self.thresholds_ = np.asarray(state["thresholds"])
        return self


@hookimpl
def register_hashers(register):  # type: ignore[no-untyped-def]
    register(SKLSHHasher)
