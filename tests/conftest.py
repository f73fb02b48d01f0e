"""Shared fixtures: a clean plugin registry per test that changes the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dhr_sdk.core import registry as plugins

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Reload plugins after the test sets DHR_* variables; restore afterwards."""
    plugins.reset()
    yield monkeypatch
    monkeypatch.undo()
    plugins.reset()
