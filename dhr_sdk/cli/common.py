"""Shared CLI options and helpers: plugin params (-p / --config), --json, -q, tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from dhr_sdk.errors import DhrError
from dhr_sdk.params import load_config, parse_key_values
from dhr_sdk.plugins import get_registry
from dhr_sdk.progress import Progress

F = TypeVar("F", bound=Callable[..., Any])


def params_option(f: F) -> F:
    return click.option(
        "-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
        help="Plugin parameter (repeatable); see 'dhr plugins' for each plugin's params.")(f)


def config_option(f: F) -> F:
    return click.option(
        "--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="TOML file with plugin params in sections [hasher], [graph_builder], [ranker], "
             "[assessor], [backbone]; -p values override it.")(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON (see docs/cli.md).")(f)


def quiet_option(f: F) -> F:
    return click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")(f)


def progress(quiet: bool) -> Progress:
    return Progress(quiet=quiet)


def plugin_params(kind: str, pairs: Sequence[str], config: Path | None) -> dict[str, Any]:
    """Params for one plugin kind: the config file's ``[kind]`` section, then ``-p`` pairs."""
    values: dict[str, Any] = {}
    if config is not None:
        section = load_config(config).get(kind, {})
        if not isinstance(section, dict):
            raise DhrError(f"config section [{kind}] must be a table")
        values.update(section)
    values.update(parse_key_values(pairs))
    return values


def create_plugin(kind: str, name: str, pairs: Sequence[str] = (),
                  config: Path | None = None) -> Any:
    """Instantiate plugin ``name`` of ``kind`` with validated params."""
    return get_registry().create(kind, name, plugin_params(kind, pairs, config))


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
