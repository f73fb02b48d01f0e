"""Hook specifications: one ``register_*`` hook per extension point.

A plugin module implements any of these with ``@hookimpl`` and calls ``register(cls)`` for
each class it provides, e.g.::

    from dhr_sdk import hookimpl

    @hookimpl
    def register_hashers(register):
        register(MyHasher)
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "dhr"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backbones(register: Any) -> None:
    """Register :class:`~dhr_sdk.core.interfaces.Backbone` subclasses (images -> features)."""


@hookspec
def register_hashers(register: Any) -> None:
    """Register :class:`~dhr_sdk.core.interfaces.Hasher` subclasses (features -> binary codes)."""


@hookspec
def register_graph_builders(register: Any) -> None:
    """Register :class:`~dhr_sdk.core.interfaces.GraphBuilder` subclasses (codes -> graph)."""


@hookspec
def register_rankers(register: Any) -> None:
    """Register :class:`~dhr_sdk.core.interfaces.Ranker` subclasses (graph -> importance scores)."""


@hookspec
def register_assessors(register: Any) -> None:
    """Register :class:`~dhr_sdk.core.interfaces.Assessor` subclasses (importance list -> R(AD))."""


#: hook name -> plugin kind it registers
HOOK_KINDS = {
    "register_backbones": "backbone",
    "register_hashers": "hasher",
    "register_graph_builders": "graph_builder",
    "register_rankers": "ranker",
    "register_assessors": "assessor",
}
