"""Running the named conformance checks: all at once, or one pytest test per check.

After scikit-learn's ``check_estimator`` / ``parametrize_with_checks``: a third party sees
which check fails by name, and can declare checks its plugin is known to fail (with the
reason) — such a check must fail; if it passes, that is reported too, so the list stays true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dhr_sdk.core.interfaces import Plugin
from dhr_sdk.testing.checks import CHECKS, CheckFn


@dataclass(frozen=True)
class Check:
    """One named check bound to one plugin class; ``id`` is ``<plugin>:<check>``."""

    plugin: type[Plugin]
    fn: CheckFn

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def id(self) -> str:
        return f"{self.plugin.kind}:{self.plugin.name}:{self.name}"

    def __call__(self, tmp_path: Path) -> None:
        self.fn(self.plugin, tmp_path)


def plugin_checks(cls: type[Plugin]) -> list[Check]:
    """The checks of ``cls``'s kind, in order."""
    if cls.kind not in CHECKS:
        raise ValueError(f"{cls!r} is of no known plugin kind ({', '.join(CHECKS)})")
    return [Check(cls, fn) for fn in CHECKS[cls.kind]]


def _unknown(cls: type[Plugin], expected: Mapping[str, str]) -> None:
    names = {c.name for c in plugin_checks(cls)}
    bad = sorted(set(expected) - names)
    if bad:
        raise ValueError(f"{cls.name}: expected failures name no check: {', '.join(bad)} "
                         f"(checks: {', '.join(sorted(names))})")


def check_plugin(cls: type[Plugin], tmp_path: Path,
                 expected_failures: Mapping[str, str] | None = None) -> None:
    """Run every check of ``cls``; raise one ``AssertionError`` naming each check that failed
    (and each expected failure that passed). ``expected_failures``: check name -> reason."""
    expected = dict(expected_failures or {})
    _unknown(cls, expected)
    problems = []
    for check in plugin_checks(cls):
        folder = tmp_path / check.name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            check(folder)
        except AssertionError as exc:
            if check.name not in expected:
                problems.append(f"{check.name}: {exc}")
        else:
            if check.name in expected:
                problems.append(f"{check.name}: passes, but is listed as an expected failure "
                                f"({expected[check.name]})")
    if problems:
        raise AssertionError(f"{cls.name} fails {len(problems)} conformance check(s):\n  "
                             + "\n  ".join(problems))


def parametrize_with_checks(classes: Iterable[type[Plugin]],
                            expected_failures: Mapping[str, Mapping[str, str]] | None = None
                            ) -> Callable[[Any], Any]:
    """A pytest ``parametrize`` decorator with one test per (plugin, check)::

        @parametrize_with_checks([MyHasher], {"sklsh": {"encode_batch_independent": "why"}})
        def test_conformance(check, tmp_path):
            check(tmp_path)

    Expected failures (plugin name -> check name -> reason) become strict ``xfail``s.
    """
    import pytest

    expected = {k: dict(v) for k, v in (expected_failures or {}).items()}
    params = []
    for cls in classes:
        own = expected.get(cls.name, {})
        _unknown(cls, own)
        for check in plugin_checks(cls):
            marks = [pytest.mark.xfail(reason=own[check.name], strict=True,
                                       raises=AssertionError)] if check.name in own else []
            params.append(pytest.param(check, id=check.id, marks=marks))
    return pytest.mark.parametrize("check", params)
