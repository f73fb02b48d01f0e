"""The app of each process of ``dhr serve --workers N`` (N > 1).

uvicorn starts N processes that share the listening socket; each imports :func:`app` and
builds its own resident state. The command line's settings reach them through one
environment variable (JSON), set by ``dhr serve`` before uvicorn spawns them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI

from dhr_sdk.core.errors import DhrError
from dhr_sdk.serve.app import Limits, create_app

#: The variable holding the settings of the worker processes.
SETTINGS_ENV = "DHR_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """What :func:`create_app` needs, as JSON-safe values."""

    stores: list[str]
    assessor: str
    params: dict[str, dict[str, Any]]
    max_body_bytes: int
    max_images: int
    watch: float

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        raw = os.environ.get(SETTINGS_ENV)
        if raw is None:
            raise DhrError(f"{SETTINGS_ENV} is not set: start workers with "
                           "'dhr serve --workers N'")
        return cls(**json.loads(raw))


def app() -> FastAPI:
    """One worker's app (uvicorn factory)."""
    s = ServeSettings.from_env()
    return create_app(s.stores, assessor=s.assessor, params=s.params,
                      limits=Limits(s.max_body_bytes, s.max_images), watch=s.watch,
                      freeze_heap=True)
