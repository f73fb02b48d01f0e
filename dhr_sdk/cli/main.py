"""The ``dhr`` command line: a thin layer over the library (each command calls one function).

Commands are imported when they run (or when ``dhr --help`` lists them), so a command
imports only the library modules it uses (docs/cli.md, "Start-up").
"""

from __future__ import annotations

import gc
import importlib
import warnings
from typing import Any

import click

from dhr_sdk._version import __version__
from dhr_sdk.core.errors import DhrError

#: Command name -> ``module:attribute`` of its click command in :mod:`dhr_sdk.cli`.
LAZY_COMMANDS = {
    "plugins": "plugins_cmd:plugins",
    "add": "add_cmd:add_command",
    "info": "info_cmd:info",
    "fit": "fit_cmd:fit",
    "encode": "encode_cmd:encode",
    "build": "build_cmd:build",
    "assess": "assess_cmd:assess",
    "demo": "demo_cmd:demo_cmd",
    "features": "features_cmd:features",
    "pretrain": "pretrain_cmd:pretrain_command",
    "demo-data": "demo_data_cmd:demo_data",
    "eval": "eval_cmd:eval_command",
    "import-codes": "import_codes_cmd:import_codes_command",
    "graph": "graph_cmd:graph",
    "rank": "rank_cmd:rank_command",
    "select": "select_cmd:select_command",
    "serve": "serve_cmd:serve",
}


def _one_line_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    return f"warning: {message}\n"


class DhrGroup(click.Group):
    """Turns user errors into one ``Error: ...`` line with exit status 1, never a traceback;
    loads the commands of :data:`LAZY_COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(f"dhr_sdk.cli.{module}"), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

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


def main() -> None:
    # Everything imported so far (numpy, scipy, h5py, pydantic and the library's models)
    # lives as long as the process: frozen, the garbage collector never walks it again,
    # shutdown's final collection included (~0.05 s of a 0.3 s command; docs/cli.md).
    gc.freeze()
    cli(prog_name="dhr")
