"""Shared CLI options and helpers: plugin params (-p / --config), --json, -q, tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.params import load_config, parse_key_values
from dhr_sdk.core.progress import Progress
from dhr_sdk.core.registry import get_registry

F = TypeVar("F", bound=Callable[..., Any])

#: ``--workers`` of features, fit, encode and build: one default, 2, for all four.
WORKERS_HELP = ("DataLoader worker processes decoding images while the network runs: 2 "
                "overlaps decoding with the forward pass on two cores (the default of every "
                "command that extracts features); 0 decodes in the main process, as does a "
                "collection that fits in one batch.")


#: The CLI's one set of feature-extraction defaults (every command that runs a backbone).
FEATURE_DEFAULTS = {"batch_size": 64, "workers": 2, "device": "cpu"}


def feature_options(f: F) -> F:
    """--batch-size / --workers / --device for backbone feature extraction."""
    f = click.option("--device", default=FEATURE_DEFAULTS["device"], show_default=True,
                     help="Device of the backbone (feature extraction, and end-to-end "
                          "fine-tuning when a hasher asks for it): cpu, cuda, cuda:N, auto.")(f)
    f = click.option("--workers", type=int, default=FEATURE_DEFAULTS["workers"],
                     show_default=True, help=WORKERS_HELP)(f)
    f = click.option("--batch-size", type=int, default=FEATURE_DEFAULTS["batch_size"],
                     show_default=True, help="Images per backbone forward pass.")(f)
    return f


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


def config_section(kind: str, config: Path | None) -> dict[str, Any]:
    """The ``[kind]`` table of the TOML ``config`` (empty without a config)."""
    if config is None:
        return {}
    section = load_config(config).get(kind, {})
    if not isinstance(section, dict):
        raise DhrError(f"config section [{kind}] must be a table")
    return section


def plugin_params(kind: str, pairs: Sequence[str], config: Path | None) -> dict[str, Any]:
    """Params for one plugin kind: the config file's ``[kind]`` section, then ``-p`` pairs."""
    return {**config_section(kind, config), **parse_key_values(pairs)}


def shared_params(kind: str, names: Sequence[str], pairs: Sequence[str],
                  config: Path | None) -> dict[str, dict[str, Any]]:
    """Params for several plugins of one kind at once: ``key=value`` (or a plain key of the
    config's ``[kind]`` section) goes to every named plugin that declares ``key``;
    ``name.key=value`` (or a ``[kind.name]`` table) to plugin ``name`` only. A key no
    named plugin declares is an error."""
    common: dict[str, Any] = {}
    own: dict[str, dict[str, Any]] = {n: {} for n in names}

    def put(key: str, value: Any) -> None:
        name, dot, sub = key.partition(".")
        if dot and name in own:
            own[name][sub] = value
        elif dot:
            raise DhrError(f"parameter {key!r} names {kind} {name!r}, which is not in use "
                           f"({', '.join(names)})")
        else:
            common[key] = value

    for key, value in config_section(kind, config).items():
        if isinstance(value, dict):
            for sub, v in value.items():
                put(f"{key}.{sub}", v)
        else:
            put(key, value)
    for key, value in parse_key_values(pairs).items():
        put(key, value)
    reg = get_registry()
    fields = {n: set(reg.get(kind, n).cls.Params.model_fields) for n in names}
    for key in common:
        if not any(key in f for f in fields.values()):
            raise DhrError(f"parameter {key!r} is not a parameter of "
                           f"{' or '.join(names)}; see 'dhr plugins -v'")
    return {n: {**{k: v for k, v in common.items() if k in fields[n]}, **own[n]}
            for n in names}


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
