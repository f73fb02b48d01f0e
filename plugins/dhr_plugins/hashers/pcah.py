"""PCAH: signs of the top-K principal components (Wang, Kumar & Chang, TPAMI 2012 baseline).

``W`` = the K leading eigenvectors of the training covariance; features are centred with
the training mean (PCA requires it). Deterministic: no seed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from dhr_plugins.hashers._common.linear import ProjectionHasher, check_pca_bits, pca
from dhr_sdk import QUIET, FitData, HasherParams, Progress, check_features, hookimpl


class PCAHParams(HasherParams):
    n_bits: int = Field(64, description="Code length in bits (multiple of 8); at most the "
                                        "feature dimension.")


class PCAHHasher(ProjectionHasher):
    """PCA hashing on backbone features."""

    name: ClassVar[str] = "pcah"
    summary: ClassVar[str] = "PCA hashing: signs of the leading principal components"
    Params: ClassVar[type[PCAHParams]] = PCAHParams
    conformance_params: ClassVar[dict[str, int]] = {"n_bits": 16}

    def fit(self, data: FitData, progress: Progress = QUIET) -> PCAHHasher:
        x = check_features(data.features, self.name)
        check_pca_bits(self.name, self.n_bits, x)
        mean = x.mean(axis=0)
        self.projection_, _ = pca(x - mean, self.n_bits)
        self.mean_ = mean
        return self


@hookimpl
def register_hashers(register: Any) -> None:
    register(PCAHHasher)
