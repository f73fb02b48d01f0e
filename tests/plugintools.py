"""Plugin instances for tests of the library functions, which take instances, not names."""

from __future__ import annotations

from typing import Any

from dhr_sdk.core.interfaces import Backbone, GraphBuilder, Hasher, Ranker
from dhr_sdk.core.registry import get_registry


def hasher(name: str, **params: Any) -> Hasher:
    return get_registry().create("hasher", name, params)


def backbone(name: str = "pixels", **params: Any) -> Backbone:
    return get_registry().create("backbone", name, params)


def graph_and_ranker(**ranker_params: Any) -> dict[str, GraphBuilder | Ranker]:
    """``builder=`` the ``hamming`` graph and ``ranker=`` ``cpr`` (closed form unless
    ``ranker_params`` say otherwise), as keyword arguments of ``build`` and
    ``graph_and_rank``."""
    rk = get_registry().create("ranker", "cpr", {"solver": "closed", **ranker_params})
    return {"builder": get_registry().create("graph_builder", "hamming"), "ranker": rk}
