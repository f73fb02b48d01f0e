"""The conformance suite itself: a failing check is named, expected failures are held to
being true, and the pytest parametrisation gives one id per (plugin, check)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from pydantic import Field

from dhr_sdk import QUIET, FitData, Hasher, HasherParams, Progress, pack_bits
from dhr_sdk.testing import CHECKS, check_plugin, parametrize_with_checks, plugin_checks


class SignParams(HasherParams):
    n_bits: int = Field(16, description="Code length.")
    seed: int = Field(0, description="Seed of the projection.")


class SignHasher(Hasher):
    """Signs of a seeded random projection: passes every check."""

    name: ClassVar[str] = "sign-test"
    Params: ClassVar[type[SignParams]] = SignParams

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def fit(self, data: FitData, progress: Progress = QUIET) -> SignHasher:
        self.projection_ = self._rng().standard_normal((data.features.shape[1], self.n_bits))
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        self.check_fitted()
        return pack_bits(np.asarray(features, np.float64) @ self.projection_ > 0)

    def get_state(self) -> dict[str, np.ndarray]:
        return {"projection": self.projection_}

    def set_state(self, state: dict[str, np.ndarray]) -> SignHasher:
        self.projection_ = np.asarray(state["projection"])
        return self


class UnseededHasher(SignHasher):
    """Ignores its seed: fails ``fit_deterministic`` and nothing else."""

    name: ClassVar[str] = "unseeded-test"

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng()


def test_every_kind_has_named_checks() -> None:
    assert set(CHECKS) == {"hasher", "graph_builder", "ranker", "assessor", "backbone"}
    names = [c.name for c in plugin_checks(SignHasher)]
    assert len(names) == len(set(names)) and "fit_deterministic" in names
    assert plugin_checks(SignHasher)[0].id == "hasher:sign-test:params_described"


def test_a_good_plugin_passes(tmp_path: Path) -> None:
    check_plugin(SignHasher, tmp_path)


def test_a_failing_check_is_named(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"fails 1 conformance check.*\n  "
                                             r"fit_deterministic: unseeded-test: not determ"):
        check_plugin(UnseededHasher, tmp_path)


def test_expected_failures_must_fail_and_exist(tmp_path: Path) -> None:
    check_plugin(UnseededHasher, tmp_path, {"fit_deterministic": "draws from the OS"})
    with pytest.raises(AssertionError, match="codes_packed: passes, but is listed"):
        check_plugin(SignHasher, tmp_path, {"codes_packed": "wrongly listed"})
    with pytest.raises(ValueError, match="name no check: fit_determinstic"):
        check_plugin(UnseededHasher, tmp_path, {"fit_determinstic": "typo"})


def test_parametrize_with_checks_ids_and_strict_xfails() -> None:
    mark = parametrize_with_checks([SignHasher, UnseededHasher],
                                   {"unseeded-test": {"fit_deterministic": "draws from the OS"}})
    argname, params = mark.args
    assert argname == "check"
    ids = [p.id for p in params]
    assert "hasher:sign-test:state_store_round_trip" in ids and len(ids) == len(set(ids))
    xfails = {p.id: p.marks[0].kwargs for p in params if p.marks}
    assert xfails == {"hasher:unseeded-test:fit_deterministic": {
        "reason": "draws from the OS", "strict": True, "raises": AssertionError}}
    with pytest.raises(ValueError, match="name no check"):
        parametrize_with_checks([SignHasher], {"sign-test": {"nope": "x"}})


@parametrize_with_checks([UnseededHasher], {"unseeded-test": {"fit_deterministic": "OS rng"}})
def test_the_decorator_runs_each_check(check, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    check(tmp_path)


def test_every_check_is_documented() -> None:
    """docs/plugins.md's table of checks names exactly the checks that run."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    table = text.split("| kind | checks |\n|---|---|\n")[1].split("\n\n")[0]
    documented = {name.strip(" `") for line in table.splitlines()
                  for name in line.split("|")[2].split(",")}
    assert documented == {fn.__name__ for fns in CHECKS.values() for fn in fns}
