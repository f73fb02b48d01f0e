"""ITQ: iterative quantisation (Gong, Lazebnik, Gordo & Perronnin, TPAMI 2013), PCA-ITQ.

Centre with the training mean, project on the top-K principal components ``V = X W``,
then alternate for ``n_iter`` iterations (paper: 50)::

    B = sign(V R)                      # fix R, update codes
    C = B^T V = U S Q^T  ->  R = Q U^T  # fix B, orthogonal Procrustes

starting from a random orthogonal ``R`` (QR of a Gaussian matrix from ``seed``; the
authors' code takes the left singular vectors, which is equally Haar-random). Encoding is
``sign((x - mean) W R)``: the stored projection is ``W R``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dhr_plugins.hashers._common.linear import ProjectionHasher, check_pca_bits, pca
from dhr_sdk import QUIET, FitData, HasherParams, Progress, check_features, hookimpl


class ITQParams(HasherParams):
    n_bits: int = Field(64, description="Code length in bits (multiple of 8); at most the "
                                        "feature dimension.")
    seed: int = Field(0, description="Seed of the initial random rotation.")
    n_iter: int = Field(50, ge=0, description="Alternating iterations (paper: 50).")


def itq_rotation(v: np.ndarray, n_iter: int, seed: int) -> tuple[np.ndarray, list[float]]:
    """Orthogonal ``R`` minimising ``||sign(V R) - V R||_F``, and the loss per iteration."""
    k = v.shape[1]
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((k, k)))
    rot = q * np.sign(np.diag(r))
    losses = []
    for _ in range(n_iter):
        z = v @ rot
        b = np.where(z >= 0, 1.0, -1.0)
        losses.append(float(np.sum((b - z) ** 2)))
        u, _, qt = np.linalg.svd(b.T @ v)
        rot = qt.T @ u.T
    return rot, losses


class ITQHasher(ProjectionHasher):
    """PCA followed by the ITQ rotation, on backbone features."""

    name: ClassVar[str] = "itq"
    summary: ClassVar[str] = "Iterative quantisation: PCA + learned orthogonal rotation"
    Params: ClassVar[type[ITQParams]] = ITQParams
    params: ITQParams
    conformance_params: ClassVar[dict[str, int]] = {"n_bits": 16}

    def fit(self, data: FitData, progress: Progress = QUIET) -> ITQHasher:
        x = check_features(data.features, self.name)
        check_pca_bits(self.name, self.n_bits, x)
        mean = x.mean(axis=0)
        w, _ = pca(x - mean, self.n_bits)
        rot, losses = itq_rotation((x - mean) @ w, self.params.n_iter, self.params.seed)
        if losses:
            progress.log(f"itq: quantisation loss {losses[0]:.4g} -> {losses[-1]:.4g}")
        self.projection_ = w @ rot
        self.mean_ = mean
        return self


@hookimpl
def register_hashers(register: Any) -> None:
    register(ITQHasher)
