"""The ``dhr serve`` process under test in ``benchmarks/serve.py``: started on a free
loopback port with N workers, and its CPU time and resident memory summed over its processes
(``/proc``)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vmrss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    """``dhr serve`` and every process under it (uvicorn's workers with ``--workers``)."""
    pids, todo = [], [proc.pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            todo += [int(c) for c in
                     Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            continue
    return pids


def tree_cpu_s(proc: subprocess.Popen[bytes]) -> float:
    return sum(cpu_s(pid) for pid in server_pids(proc))


def tree_rss_mb(proc: subprocess.Popen[bytes]) -> float:
    return sum(vmrss_mb(pid) for pid in server_pids(proc))


def start_server(stores: list[Path], workers: int, probe: dict[str, Any]
                 ) -> tuple[subprocess.Popen[bytes], str, float]:
    """``dhr serve`` on a free port, returned once every worker process has answered
    ``probe`` (an assessment request; answers name their process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "dhr"), "serve", *map(str, stores), "--port", str(port),
                             "--workers", str(workers), "-q"])
    deadline = time.monotonic() + 300
    answered: set[str] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            answered |= asyncio.run(_processes(url, probe, 4 * workers))
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if len(answered) >= workers:
            return proc, url, time.perf_counter() - started
    proc.kill()
    raise SystemExit(f"dhr serve --workers {workers} did not answer from every worker in 300 s")


async def _processes(url: str, request: dict[str, Any], n: int) -> set[str]:
    """The server processes that answered ``n`` concurrent requests on fresh connections."""
    async def one() -> str:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            r = await client.post("/v1/assess", **request)
            r.raise_for_status()
            return r.headers.get("x-dhr-process", "")
    return set(await asyncio.gather(*(one() for _ in range(n))))
