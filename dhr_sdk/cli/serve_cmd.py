"""``dhr serve``: keep stores resident and answer requirements over HTTP (docs/serve.md)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dhr_sdk.assessment.assess import DEFAULT_ASSESSOR, PAPER_ASSESSOR, make_assessor
from dhr_sdk.cli.common import config_option, params_option, quiet_option, shared_params
from dhr_sdk.core.errors import DhrError

if TYPE_CHECKING:
    from dhr_sdk.serve.app import Limits

#: The modules of the ``serve`` install extra (import name -> distribution).
SERVE_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "multipart": "python-multipart",
                 "orjson": "orjson"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_serve_extra() -> None:
    """One-line error naming the extra when a module of it is not installed."""
    missing = [dist for mod, dist in SERVE_MODULES.items()
               if importlib.util.find_spec(mod) is None]
    if missing:
        raise DhrError(f"dhr serve needs the 'serve' extra (missing: {', '.join(missing)}); "
                       "install it with: pip install \"dhr-sdk[serve]\"")


@click.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the API has no authentication, so keep loopback "
                   "unless a proxy in front of it authenticates.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port to listen on (0: any free port).")
@click.option("--assessor", default=DEFAULT_ASSESSOR, show_default=True,
              help=f"Assessor plugin that ranks the collections; the paper's R(AD) "
                   f"({PAPER_ASSESSOR}) is always given beside it.")
@click.option("--max-upload-mb", default=32.0, show_default=True, type=click.FloatRange(0.001),
              help="Largest request body (all uploaded images together), in MiB.")
@click.option("--max-images", default=256, show_default=True, type=click.IntRange(1),
              help="Most requirement images one request may upload.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Server processes sharing the port, each with its own copy of the "
                   "stores in memory: more requests answered at once on more cores.")
@click.option("--watch", type=click.FloatRange(0), default=None,
              help="Reload changed and new stores every SECONDS (0: only on POST "
                   "/v1/reload). Default: 0 with one worker, 2 with several (a reload "
                   "request reaches one process; the others follow within this time).")
@params_option
@config_option
@quiet_option
def serve(stores: tuple[Path, ...], host: str, port: int, assessor: str,
          max_upload_mb: float, max_images: int, workers: int, watch: float | None,
          params: tuple[str, ...], config: Path | None, quiet: bool) -> None:
    """Serve STORES (store files, or folders of *.h5) over HTTP: an API and a web page.

    Models, importance lists and Hamming indexes are loaded once and stay resident; the
    stores are only read. POST /v1/reload (or --watch) picks up rebuilt and new stores.
    -p as for 'dhr assess'.
    """
    check_serve_extra()
    import uvicorn

    from dhr_sdk.serve.app import Limits, create_app

    names = list(dict.fromkeys([assessor, PAPER_ASSESSOR]))
    assessor_params = shared_params("assessor", names, params, config)
    limits = Limits(int(max_upload_mb * 1024 * 1024), max_images)
    interval = (2.0 if workers > 1 else 0.0) if watch is None else watch
    if host not in LOOPBACK:
        click.echo(f"warning: listening on {host}: the API has no authentication", err=True)
    log_level = "warning" if quiet else "info"
    if workers > 1:
        _serve_workers(list(stores), assessor, assessor_params, limits, interval, workers,
                       host, port, log_level, quiet)
        return
    started = time.perf_counter()
    app = create_app(list(stores), assessor=assessor, params=assessor_params, limits=limits,
                     watch=interval, freeze_heap=True)
    state = app.state.dhr
    if not quiet:
        click.echo(f"loaded {len(state.collections)} collection(s), {len(state.models)} "
                   f"model(s) in {time.perf_counter() - started:.2f} s; serving "
                   f"http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def _serve_workers(stores: list[Path], assessor: str, params: dict[str, dict[str, object]],
                   limits: Limits, watch: float, workers: int, host: str, port: int,
                   log_level: str, quiet: bool) -> None:
    """uvicorn's process manager over ``workers`` processes of :mod:`dhr_sdk.serve.worker`.

    The stores are checked here first (one line when something cannot be served, before
    any process starts); each process then loads its own copy."""
    import os

    import uvicorn

    from dhr_sdk.serve.state import open_collections
    from dhr_sdk.serve.worker import SETTINGS_ENV, ServeSettings

    if port == 0:
        raise DhrError("--port 0 cannot be shared by several workers: give a port")
    if watch == 0:
        click.echo("warning: --watch 0 with several workers: POST /v1/reload reloads only "
                   "the process that answers it", err=True)
    for name in dict.fromkeys([assessor, PAPER_ASSESSOR]):
        make_assessor(name, params.get(name))  # bad -p: one line now, not in every worker
    checked = open_collections([Path(s).expanduser() for s in stores])
    os.environ[SETTINGS_ENV] = ServeSettings(
        [str(s) for s in stores], assessor, params, limits.max_body_bytes, limits.max_images,
        watch).to_env()
    if not quiet:
        click.echo(f"{len(checked)} collection(s) checked; starting {workers} "
                   f"workers on http://{host}:{port}/ (each loads its own copy; Ctrl-C stops)")
    del checked
    uvicorn.run("dhr_sdk.serve.worker:app", factory=True, workers=workers, host=host,
                port=port, log_level=log_level)
