"""Spectral Hashing (Weiss, Torralba & Fergus, NIPS 2008), after the authors' trainSH/compressSH.

Fit: centre, PCA to ``p = min(K, d)`` directions, take the box ``[mn, mx]`` of the training
data along each direction (``min - eps``, ``max + eps``). The analytical eigenfunctions of a
uniform distribution on that box are ``cos(m * pi * (u - mn) / (mx - mn))``; with at most
``ceil((K + 1) * R_k / max R)`` modes per direction ``k`` (``R = mx - mn``), the K
single-dimension modes of smallest eigenvalue ``sum (m pi / R)^2`` are kept, the constant
mode excluded. Encode: ``bit_i = [prod_k sin(pi/2 + omega_ik (u_k - mn_k)) > 0]``.
Deterministic: no seed (mode ties keep the authors' order via a stable sort).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dhr_plugins.hashers._common.linear import pca
from dhr_sdk import (
    QUIET,
    DhrError,
    FitData,
    Hasher,
    HasherParams,
    Progress,
    check_features,
    hookimpl,
    pack_bits,
)

_EPS = float(np.finfo(np.float64).eps)


class SHParams(HasherParams):
    n_bits: int = Field(64, description="Code length in bits (multiple of 8).")


def spectral_modes(span: np.ndarray, n_bits: int) -> np.ndarray:
    """``(n_bits, p)`` integer modes: the smallest-eigenvalue ones, constant mode excluded."""
    p = span.shape[0]
    max_mode = np.ceil((n_bits + 1) * span / span.max()).astype(np.int64)
    rows = [np.zeros(p, dtype=np.int64)]
    for k in range(p):
        for m in range(1, max_mode[k]):
            row = np.zeros(p, dtype=np.int64)
            row[k] = m
            rows.append(row)
    modes = np.stack(rows)
    eig = ((modes * (np.pi / span)) ** 2).sum(axis=1)
    order = np.argsort(eig, kind="stable")
    chosen = modes[order[1:n_bits + 1]]
    if chosen.shape[0] < n_bits:
        raise DhrError(f"sh: only {chosen.shape[0]} spectral modes available for {n_bits} bits")
    return chosen


class SHHasher(Hasher):
    """Spectral hashing on backbone features."""

    name: ClassVar[str] = "sh"
    summary: ClassVar[str] = "Spectral hashing: PCA + analytical Laplacian eigenfunctions"
    Params: ClassVar[type[SHParams]] = SHParams
    conformance_params: ClassVar[dict[str, int]] = {"n_bits": 16}

    def fit(self, data: FitData, progress: Progress = QUIET) -> SHHasher:
        x = check_features(data.features, self.name)
        if x.shape[0] < 2:
            raise DhrError("sh: needs at least 2 training images")
        mean = x.mean(axis=0)
        n_pca = min(self.n_bits, x.shape[1], x.shape[0] - 1)
        pc, _ = pca(x - mean, n_pca)
        u = (x - mean) @ pc
        mn, mx = u.min(axis=0) - _EPS, u.max(axis=0) + _EPS
        self.modes_ = spectral_modes(mx - mn, self.n_bits)
        self.mean_, self.pc_, self.mn_, self.mx_ = mean, pc, mn, mx
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        self.check_fitted()
        x = check_features(features, self.name, self.mean_.shape[0])
        u = (x - self.mean_) @ self.pc_ - self.mn_
        omegas = self.modes_ * (np.pi / (self.mx_ - self.mn_))
        y = np.empty((x.shape[0], self.n_bits))
        for i in range(self.n_bits):
            y[:, i] = np.prod(np.sin(u * omegas[i] + np.pi / 2), axis=1)
        return pack_bits(y > 0)

    def get_state(self) -> dict[str, np.ndarray]:
        self.check_fitted()
        return {"mean": self.mean_.copy(), "pc": self.pc_.copy(), "mn": self.mn_.copy(),
                "mx": self.mx_.copy(), "modes": self.modes_.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> SHHasher:
        modes = np.asarray(state["modes"], dtype=np.int64)
        if modes.shape[0] != self.n_bits:
            raise DhrError(f"sh: stored model has {modes.shape[0]} bits, expected {self.n_bits}")
        self.mean_ = np.asarray(state["mean"], dtype=np.float64)
        self.pc_ = np.asarray(state["pc"], dtype=np.float64)
        self.mn_ = np.asarray(state["mn"], dtype=np.float64)
        self.mx_ = np.asarray(state["mx"], dtype=np.float64)
        self.modes_ = modes
        return self


@hookimpl
def register_hashers(register: Any) -> None:
    register(SHHasher)
