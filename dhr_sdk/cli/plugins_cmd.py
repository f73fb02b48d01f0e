"""``dhr plugins``: every registered implementation, where it comes from, and its params;
then the broken plugins and the third-party names that lost to a built-in."""

from __future__ import annotations

from typing import Any

import click

from dhr_sdk.cli.common import emit_json, json_option, render_table
from dhr_sdk.core.registry import get_registry


def plugins_report() -> dict[str, Any]:
    """The JSON contract of ``dhr plugins --json``."""
    reg = get_registry()
    return {
        "plugins": [
            {"kind": r.kind, "name": r.name, "plugin": r.plugin, "distribution": r.distribution,
             "version": r.version, "summary": r.cls.summary,
             "params_schema": r.cls.Params.model_json_schema()}
            for r in reg.all()
        ],
        "broken": [{"plugin": b.plugin, "distribution": b.distribution, "error": b.error}
                   for b in reg.broken],
        "conflicts": [
            {"kind": c.ignored.kind, "name": c.ignored.name, "plugin": c.ignored.plugin,
             "distribution": c.ignored.distribution,
             "version": c.ignored.distribution_version,
             "builtin_distribution": c.builtin.distribution,
             "builtin_version": c.builtin.distribution_version, "message": c.message}
            for c in reg.conflicts],
    }


@click.command()
@json_option
@click.option("-v", "--verbose", is_flag=True, help="Show every parameter with its default.")
def plugins(as_json: bool, verbose: bool) -> None:
    """List installed plugins (built-in and third-party), broken ones, and third-party
    plugins ignored because they claim a built-in's name."""
    report = plugins_report()
    if as_json:
        emit_json(report)
        return
    rows = [(p["kind"], p["name"], p["distribution"], p["version"], p["summary"])
            for p in report["plugins"]]
    click.echo(render_table(["kind", "name", "distribution", "version", "summary"], rows))
    if verbose:
        for p in report["plugins"]:
            click.echo(f"\n{p['kind']} {p['name']}:")
            for key, spec in p["params_schema"].get("properties", {}).items():
                default = spec.get("default", "(required)")
                click.echo(f"  {key} = {default!r}  {spec.get('description', '')}")
    for b in report["broken"]:
        click.echo(f"BROKEN {b['plugin']} ({b['distribution']}): {b['error']}", err=True)
    for c in report["conflicts"]:
        click.echo(f"CONFLICT {c['message']}", err=True)
