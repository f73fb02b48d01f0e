"""``HashModel.encode``: blocks of rows give the codes of one call."""

from __future__ import annotations

import numpy as np
import pytest

from dhr_sdk.core.interfaces import FitData
from dhr_sdk.core.registry import get_registry
from dhr_sdk.model import hash_model
from dhr_sdk.model.hash_model import HashModel


@pytest.mark.parametrize(("name", "params"), [("itq", {"seed": 0}), ("lsh", {"seed": 0}),
                                              ("sh", {})])
def test_blocks_equal_one_call(name: str, params: dict[str, object],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(0).standard_normal((1000, 24)).astype(np.float32)
    hasher = get_registry().create("hasher", name, {"n_bits": 16, **params})
    hasher.fit(FitData(features=x[:300]))
    whole = hasher.encode(x)
    monkeypatch.setattr(hash_model, "ENCODE_BLOCK", 128)  # 8 blocks, the last one short
    got = HashModel(hasher, "none", {}).encode(x)
    assert got.shape == whole.shape and np.array_equal(got, whole)
    assert np.array_equal(HashModel(hasher, "none", {}).encode(x[:0]), whole[:0])
