"""Fixtures of the dhr serve tests: one world of stores and one server for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dhr_sdk.serve.app import Limits, create_app
from tests.serve.servetools import Server, build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_world(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="session")
def server(world: dict[str, Path]) -> Iterator[Server]:
    s = Server(create_app([world["served"]], limits=Limits(max_body_bytes=1 << 20,
                                                           max_images=40)))
    yield s
    s.stop()
