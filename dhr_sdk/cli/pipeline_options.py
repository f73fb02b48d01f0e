"""CLI options shared by ``dhr fit``, ``dhr encode``, ``dhr build`` and ``dhr demo``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dhr_sdk.cli.common import plugin_params
from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.core.interfaces import Hasher
from dhr_sdk.core.params import parse_key_values
from dhr_sdk.core.registry import get_registry
from dhr_sdk.offline.pipeline import FeatureOptions

F = TypeVar("F", bound=Callable[..., Any])

#: ``-p`` key prefixes of ``dhr build`` and the plugin kind they address.
PREFIXES = {"hasher": "hasher", "backbone": "backbone", "graph": "graph_builder",
            "graph_builder": "graph_builder", "ranker": "ranker", "assessor": "assessor"}


def make_feature_options(batch_size: int, workers: int, device: str) -> FeatureOptions:
    return FeatureOptions(batch_size=batch_size, workers=workers, device=device)


def make_hasher(name: str, params: dict[str, Any], seed: int | None = None) -> Hasher:
    """Hasher ``name`` with validated ``params``; ``seed`` (``--seed``) overrides theirs."""
    if seed is not None:
        if "seed" not in get_registry().get("hasher", name).cls.Params.model_fields:
            raise DhrError(f"hasher {name!r} has no seed parameter")
        params = {**params, "seed": seed}
    return get_registry().create("hasher", name, params)


def split_params(pairs: Sequence[str], config: Path | None,
                 default_kind: str) -> dict[str, dict[str, Any]]:
    """Params per kind: ``[kind]`` config sections, then ``-p [prefix.]key=value``.

    Unprefixed keys go to ``default_kind``; prefixes are those of :data:`PREFIXES`.
    """
    out = {kind: plugin_params(kind, (), config) for kind in set(PREFIXES.values())}
    for key, value in parse_key_values(pairs).items():
        prefix, dot, rest = key.partition(".")
        if dot:
            if prefix not in PREFIXES:
                raise ParamsError(f"unknown parameter prefix {prefix!r} in {key!r}; use one of "
                                  f"{', '.join(sorted(PREFIXES))}")
            out[PREFIXES[prefix]][rest] = value
        else:
            out[default_kind][key] = value
    return out
