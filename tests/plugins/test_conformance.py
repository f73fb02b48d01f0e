"""Every registered plugin (built-in or installed third-party) passes the conformance suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhr_sdk.core.registry import get_registry
from dhr_sdk.testing import check_plugin

REGISTRATIONS = get_registry().all()


def test_no_broken_plugins() -> None:
    assert get_registry().broken == []


@pytest.mark.parametrize("reg", REGISTRATIONS, ids=[f"{r.kind}:{r.name}" for r in REGISTRATIONS])
def test_plugin_conforms(reg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    check_plugin(reg.cls, tmp_path)
