"""LSH: sign of random Gaussian projections (Charikar 2002; the baseline of every hashing paper).

Data-independent apart from the optional centring: ``W ~ N(0, 1)^{d x K}`` drawn from
``seed``. Centring with the training mean (``center=True``, default) is what the ITQ paper's
comparisons do (all methods see zero-centred data); without it, non-negative features such
as pixels or post-ReLU CNN activations give nearly constant bits.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from dhr_plugins.hashers._common.linear import ProjectionHasher
from dhr_sdk import QUIET, FitData, HasherParams, Progress, check_features, hookimpl


class LSHParams(HasherParams):
    n_bits: int = Field(64, description="Code length in bits (multiple of 8).")
    seed: int = Field(0, description="Seed of the random projections.")
    center: bool = Field(True, description="Subtract the training mean before projecting.")


class LSHHasher(ProjectionHasher):
    """Random-projection LSH on backbone features."""

    name: ClassVar[str] = "lsh"
    summary: ClassVar[str] = "Locality-sensitive hashing: signs of random projections"
    Params: ClassVar[type[LSHParams]] = LSHParams
    params: LSHParams
    conformance_params: ClassVar[dict[str, int]] = {"n_bits": 16}

    def fit(self, data: FitData, progress: Progress = QUIET) -> LSHHasher:
        x = check_features(data.features, self.name)
        rng = np.random.default_rng(self.params.seed)
        self.projection_ = rng.standard_normal((x.shape[1], self.n_bits))
        self.mean_ = x.mean(axis=0) if self.params.center else np.zeros(x.shape[1])
        return self


@hookimpl
def register_hashers(register: Any) -> None:
    register(LSHHasher)
