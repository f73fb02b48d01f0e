"""Checks of the arrays that cross the plugin boundary: feature matrices and requirement
weights. One rule each, so every hasher and assessor refuses bad input with the same line."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dhr_sdk.core.errors import DhrError


def check_features(features: npt.ArrayLike, name: str, dim: int | None = None,
                   dtype: npt.DTypeLike = np.float64, min_rows: int = 0) -> np.ndarray:
    """``features`` as a finite, C-contiguous ``(n, d)`` array of ``dtype`` with at least
    ``min_rows`` rows (and ``d == dim`` when given: the dimension a model was fitted on);
    otherwise a one-line :class:`DhrError` naming the plugin ``name``."""
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] < min_rows:
        rows = "" if min_rows == 0 else f" with at least {min_rows} row(s)"
        raise DhrError(f"{name}: features must be a 2-D array (n, d){rows}, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise DhrError(f"{name}: features have {x.shape[1]} dimensions, the model was fitted "
                       f"on {dim}")
    x = np.ascontiguousarray(x, dtype=dtype)
    if not np.isfinite(x).all():
        raise DhrError(f"{name}: features contain NaN or infinite values")
    return x


def check_weights(weights: Sequence[float] | np.ndarray | None, n: int,
                  what: str = "requirement images") -> np.ndarray:
    """One finite, non-negative weight per item of ``what`` (``n`` of them), not all zero, as
    float64; equal weights when ``weights`` is None or empty."""
    if weights is None or len(weights) == 0:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise DhrError(f"got {w.shape[0]} weights for {n} {what}; give one weight per item "
                       "or none")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DhrError("requirement weights must be finite, non-negative and not all zero")
    return w
