"""A model records its hasher's state version; loading it under another version warns, or
stops with one line when the state no longer loads."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.model.hash_model import HashModel, ModelVersionWarning, load_model, save_model
from dhr_sdk.store import Store
from dhr_sdk.testing import synthetic_fit_data


def _fitted_record(tmp_path: Path):
    data = synthetic_fit_data(n=40, d=16, seed=0)
    hasher = get_registry().create("hasher", "itq", {"n_bits": 8})
    hasher.fit(data)
    save_model(HashModel(hasher, "pixels", {"size": 4}), tmp_path / "m.h5")
    return Store(tmp_path / "m.h5").read_model(), data.features


def _with_version(rec, version: str):
    return dataclasses.replace(rec, provenance=dataclasses.replace(
        rec.provenance, plugin_version=version))


def test_the_installed_version_is_recorded_and_loads_silently(tmp_path: Path) -> None:
    rec, _ = _fitted_record(tmp_path)
    assert rec.provenance.plugin_version == get_registry().get("hasher", "itq").version
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(tmp_path / "m.h5")
        HashModel.from_record(_with_version(rec, ""))  # written before versions were kept


def test_another_version_that_loads_warns_and_encodes(tmp_path: Path) -> None:
    rec, x = _fitted_record(tmp_path)
    codes = HashModel.from_record(rec).hasher.encode(x)
    with pytest.warns(ModelVersionWarning, match=r"hasher 'itq' version 0\.0\.1, but version "):
        model = HashModel.from_record(_with_version(rec, "0.0.1"), "the model in m.h5")
    np.testing.assert_array_equal(model.hasher.encode(x), codes)


def test_another_version_whose_state_does_not_load_is_one_line(tmp_path: Path) -> None:
    rec, _ = _fitted_record(tmp_path)
    broken = dataclasses.replace(_with_version(rec, "0.0.1"), state={})
    with pytest.raises(DhrError, match=r"^the model in m\.h5 holds the state of hasher 'itq' "
                                       r"version 0\.0\.1, .* cannot load it \(KeyError") as err:
        HashModel.from_record(broken, "the model in m.h5")
    assert "\n" not in str(err.value)


def test_the_same_version_with_a_bad_state_is_not_blamed_on_versions(tmp_path: Path) -> None:
    rec, _ = _fitted_record(tmp_path)
    with pytest.raises(KeyError):
        HashModel.from_record(dataclasses.replace(rec, state={}))
