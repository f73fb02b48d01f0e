"""The ``dhr`` command line: a thin layer over the library (each command calls one function)."""

from __future__ import annotations

import warnings
from typing import Any

import click

from dhr_sdk._version import __version__
from dhr_sdk.cli import (
    assess_cmd,
    build_cmd,
    demo_cmd,
    demo_data_cmd,
    encode_cmd,
    eval_cmd,
    features_cmd,
    fit_cmd,
    graph_cmd,
    import_codes_cmd,
    info_cmd,
    plugins_cmd,
    rank_cmd,
    select_cmd,
    serve_cmd,
)
from dhr_sdk.core.errors import DhrError


def _one_line_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    return f"warning: {message}\n"


class DhrGroup(click.Group):
    """Turns user errors into one ``Error: ...`` line with exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DhrError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # the file system (disk full, read-only, permissions...)
            text = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{text}{where}") from None


@click.group(cls=DhrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dhr")
def cli() -> None:
    """Deep-hash-based, relevance-aware data quality assessment of image collections.

    Offline per collection: fit a hash model, encode images to codes, build the Hamming
    graph, rank it (SHR/CPR) into an importance list. Online: assess a requirement (a few
    example images) against many collections and rank them by R(AD).
    """
    warnings.formatwarning = _one_line_warning


cli.add_command(plugins_cmd.plugins)
cli.add_command(info_cmd.info)
cli.add_command(fit_cmd.fit)
cli.add_command(encode_cmd.encode)
cli.add_command(build_cmd.build)
cli.add_command(assess_cmd.assess)
cli.add_command(demo_cmd.demo_cmd)
cli.add_command(features_cmd.features)
cli.add_command(demo_data_cmd.demo_data)
cli.add_command(eval_cmd.eval_command)
cli.add_command(import_codes_cmd.import_codes_command)
cli.add_command(graph_cmd.graph)
cli.add_command(rank_cmd.rank_command, name="rank")
cli.add_command(select_cmd.select_command, name="select")
cli.add_command(serve_cmd.serve)


def main() -> None:
    cli(prog_name="dhr")
