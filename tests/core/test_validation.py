"""The one feature-matrix rule and the one requirement-weight rule."""

from __future__ import annotations

import numpy as np
import pytest

from dhr_sdk import DhrError, check_features, check_weights


def test_check_features_converts_and_refuses() -> None:
    x = check_features([[1, 2], [3, 4]], "h", dim=2, dtype=np.float32)
    assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (2, 2)
    assert check_features(np.zeros((0, 3)), "h").shape == (0, 3)
    with pytest.raises(DhrError, match=r"^h: features must be a 2-D array \(n, d\) with at "
                                       r"least 1 row"):
        check_features(np.zeros((0, 3)), "h", min_rows=1)
    with pytest.raises(DhrError, match="2-D"):
        check_features(np.zeros(3), "h")
    with pytest.raises(DhrError, match="3 dimensions, the model was fitted on 4"):
        check_features(np.zeros((2, 3)), "h", dim=4)
    with pytest.raises(DhrError, match="NaN or infinite"):
        check_features([[np.nan, 1.0]], "h")


def test_check_weights() -> None:
    assert check_weights(None, 3).tolist() == [1.0, 1.0, 1.0]
    assert check_weights([], 2).tolist() == [1.0, 1.0]
    assert check_weights([2, 0], 2).tolist() == [2.0, 0.0]
    with pytest.raises(DhrError, match="got 1 weights for 2 codes"):
        check_weights([1.0], 2, "codes")
    for bad in ([0, 0], [-1, 2], [np.inf, 1]):
        with pytest.raises(DhrError, match="finite, non-negative and not all zero"):
            check_weights(bad, 2)
