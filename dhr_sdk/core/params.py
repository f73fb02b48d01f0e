"""Plugin parameters: the pydantic base model, CLI ``-p key=value`` parsing and TOML configs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dhr_sdk.core.bits import MAX_BITS, MIN_BITS, n_bits_problem
from dhr_sdk.core.errors import DhrError, ParamsError


class Params(BaseModel):
    """Base of every plugin's ``Params``: unknown keys are errors, instances are immutable.

    Subclasses declare each hyper-parameter with its paper default and a ``description``.
    Validators are built on first use (``defer_build``): a command pays only for the params
    it validates, not for every plugin class it imports (a start-up cost, docs/cli.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class HasherParams(Params):
    """Base of a hasher's ``Params``: the code length ``n_bits``, checked when the params are
    built against the one code-length rule (:mod:`dhr_sdk.core.bits`) and the hasher's own
    range (``min_bits``/``max_bits``: the deep hashers support what their papers do)."""

    min_bits: ClassVar[int] = MIN_BITS
    max_bits: ClassVar[int] = MAX_BITS

    n_bits: int = Field(64, description="Code length in bits (a multiple of 8).")

    @field_validator("n_bits")
    @classmethod
    def _check_n_bits(cls, v: int) -> int:
        problem = n_bits_problem(v, cls.min_bits, cls.max_bits)
        if problem is not None:
            raise ValueError(problem)
        return v


P = TypeVar("P", bound=Params)


def parse_key_values(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn ``["radius=2", "damping=0.85"]`` into a dict.

    Values are read as JSON when they parse (numbers, booleans, lists), otherwise kept as
    strings; pydantic then coerces them to the declared types.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParamsError(f"parameter {pair!r} is not of the form key=value")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file. Sections are named after plugin kinds (``[hasher]``, ...)."""
    if sys.version_info >= (3, 11):  # imported here: only --config needs it
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise DhrError(f"config file {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise DhrError(f"config file {p} is not valid TOML: {exc}") from None


def format_validation_error(exc: ValidationError, owner: str) -> str:
    """One readable line for a pydantic validation error."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "params"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown parameter"
        parts.append(f"{loc}: {msg}")
    return f"invalid parameters for {owner}: " + "; ".join(parts)


def build_params(model: type[P], values: Mapping[str, Any], owner: str) -> P:
    """Validate ``values`` against ``model``; raise :class:`ParamsError` with one line."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, owner)) from None


def params_to_json(params: BaseModel) -> str:
    """Canonical JSON of a params instance (sorted keys) for provenance and cache keys."""
    return json.dumps(params.model_dump(mode="json"), sort_keys=True)
