"""The HTTP API and web page of ``dhr serve`` (FastAPI), over a resident :class:`ServerState`.

Bad input is always a 4xx JSON answer ``{"detail": "<one line>"}``, never a 500. Heavy work
(decoding, encoding, searching, reloading) runs off the event loop so that it keeps
answering ``/healthz`` meanwhile: assessments in one worker thread for code requirements
and one for image requirements, taken in arrival order. The work holds the GIL, so more
threads would not answer sooner, only hand the GIL around; more cores are used with more
processes (``dhr serve --workers``). The contract is docs/serve.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from dhr_sdk._version import __version__
from dhr_sdk.assessment.assess import DEFAULT_ASSESSOR
from dhr_sdk.core.errors import DhrError
from dhr_sdk.serve.answer import answer
from dhr_sdk.serve.inputs import RequestError, codes_requirement, upload_label
from dhr_sdk.serve.state import ServerState
from dhr_sdk.serve.thumbs import MAX_THUMB_SIZE, THUMB_SIZE, thumbnail_png

#: The header naming the server process that answered an assessment (``--workers``).
PROCESS_HEADER = "x-dhr-process"
#: Matched images listed per collection unless the request asks otherwise, and the most.
DEFAULT_TOP = 6
MAX_TOP = 100


@dataclass(frozen=True)
class Limits:
    """What one request may send: body bytes (uploads included) and requirement images."""

    max_body_bytes: int = 32 * 1024 * 1024
    max_images: int = 256


class CodesRequest(BaseModel):
    """``POST /v1/assess`` as JSON: hex packed codes, optional weights and collections."""

    model_config = ConfigDict(extra="forbid")
    codes: list[str]
    weights: list[float] | None = None
    collections: list[str] | None = None
    top: int = Field(DEFAULT_TOP, ge=0, le=MAX_TOP)


def _one_line(exc: ValidationError | RequestValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
    return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid"))


def _detail(status: int, text: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(text.split())}, status_code=status)


def _body_size(request: Request, limits: Limits) -> None:
    length = request.headers.get("content-length")
    if length is None:
        raise RequestError("send a Content-Length header (chunked uploads are refused)", 411)
    if not length.isdigit() or int(length) > limits.max_body_bytes:
        raise RequestError(f"request body over the limit of {limits.max_body_bytes:,} bytes "
                           "(dhr serve --max-upload-mb)", 413)


def _floats(values: Sequence[Any], what: str) -> list[float]:
    out = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            raise RequestError(f"{what} {str(v)[:40]!r} is not a number") from None
    return out


def _int(value: Any, what: str, default: int, high: int) -> int:
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise RequestError(f"{what} {str(value)[:40]!r} is not a whole number") from None
    if not 0 <= n <= high:
        raise RequestError(f"{what} must be between 0 and {high}")
    return n


class Workers:
    """The two worker threads requests are assessed in (see the module doc)."""

    def __init__(self) -> None:
        self.codes = ThreadPoolExecutor(1, thread_name_prefix="dhr-codes")
        self.images = ThreadPoolExecutor(1, thread_name_prefix="dhr-images")

    @staticmethod
    async def run(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def shutdown(self) -> None:
        self.codes.shutdown(wait=False, cancel_futures=True)
        self.images.shutdown(wait=False, cancel_futures=True)


def _answered(assess: Callable[..., Any], started: float) -> Callable[..., Response]:
    """``assess`` followed by the answer encoded as JSON, both in the worker thread. The
    answer (~45 kB for 8 collections) is encoded by orjson: the standard library's encoder
    took ~1.5 ms of a ~10 ms request, mostly formatting floats."""
    def run(*args: Any) -> Response:
        data = answer(assess(*args), 1e3 * (time.perf_counter() - started))
        return Response(orjson.dumps(data), media_type="application/json",
                        headers={PROCESS_HEADER: str(os.getpid())})
    return run


async def _assess_json(request: Request, state: ServerState, workers: Workers
                       ) -> Response:
    started = time.perf_counter()
    try:
        body = CodesRequest.model_validate(json.loads(await request.body()))
    except json.JSONDecodeError as exc:
        raise RequestError(f"the request body is not JSON: {exc}") from None
    except ValidationError as exc:
        raise RequestError(_one_line(exc)) from None
    req = codes_requirement(body.codes, body.weights)
    out: Response = await workers.run(workers.codes, _answered(state.assess_codes, started),
                                      req, body.collections, body.top)
    return out


async def _assess_upload(request: Request, state: ServerState, limits: Limits,
                         workers: Workers) -> Response:
    started = time.perf_counter()
    async with request.form(max_files=limits.max_images, max_fields=4 * limits.max_images
                            + 16) as form:
        uploads = [u for u in form.getlist("images") if isinstance(u, UploadFile)]
        if len(uploads) != len(form.getlist("images")):
            raise RequestError("the 'images' field must hold files, not text")
        files = [(upload_label(u.filename, i), u.file) for i, u in enumerate(uploads)]
        groups = [str(g) for g in form.getlist("group")] or None
        weights = _floats(form.getlist("weight"), "weight") or None
        names = [str(n) for n in form.getlist("collection")] or None
        top = _int(form.get("top"), "top", DEFAULT_TOP, MAX_TOP)
        out: Response = await workers.run(
            workers.images, _answered(state.assess_images, started), files, groups, weights,
            names, top)
    return out


def _page() -> str:
    return files("dhr_sdk.serve").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(stores: Sequence[str | Path], *, assessor: str = DEFAULT_ASSESSOR,
               params: dict[str, dict[str, Any]] | None = None,
               limits: Limits | None = None, watch: float = 0.0,
               freeze_heap: bool = False) -> FastAPI:
    """The app serving ``stores`` (files or folders of ``*.h5``), opened now, before the
    first request; ``assessor`` ranks with ``params`` per assessor name (as ``dhr assess``).
    ``watch > 0``: reload every ``watch`` seconds while the app runs (its lifespan).
    ``freeze_heap``: see :class:`ServerState` (``dhr serve`` sets it)."""
    state = ServerState(stores, assessor, params, freeze_heap=freeze_heap)
    limits = limits or Limits()
    page = _page()
    workers = Workers()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = state.watch(watch) if watch > 0 else None
        yield
        if stop is not None:
            stop.set()
        workers.shutdown()

    app = FastAPI(title="dhr serve", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.dhr = state

    @app.exception_handler(DhrError)
    async def dhr_error(_: Request, exc: DhrError) -> JSONResponse:
        return _detail(getattr(exc, "status", 400), str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _detail(422, _one_line(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _detail(exc.status_code, str(exc.detail))

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/collections")
    async def collections() -> dict[str, Any]:
        return {"collections": state.describe(), "ranked_by": state.ranking.name,
                "paper_assessor": state.paper.name}

    @app.post("/v1/assess")
    async def assess(request: Request) -> Response:
        _body_size(request, limits)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            return await _assess_json(request, state, workers)
        if kind == "multipart/form-data":
            return await _assess_upload(request, state, limits, workers)
        raise RequestError("send application/json with 'codes' or multipart/form-data with "
                           "'images' files", 415)

    @app.post("/v1/reload")
    async def reload() -> dict[str, Any]:
        result = await run_in_threadpool(state.reload)
        return {**result.to_json(), "collections": state.describe()}

    @app.get("/v1/collections/{name}/images/{index}")
    async def image(name: str, index: str, size: int = THUMB_SIZE) -> Response:
        if not index.isdigit():
            raise RequestError(f"image index {index[:40]!r} is not a whole number", 404)
        if not 8 <= size <= MAX_THUMB_SIZE:
            raise RequestError(f"size must be between 8 and {MAX_THUMB_SIZE}")
        png = await run_in_threadpool(thumbnail_png, state.collection(name), int(index), size)
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "no-cache"})

    return app
