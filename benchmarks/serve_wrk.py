"""The code scenarios of ``benchmarks/serve.py`` driven by wrk, a load generator in C.

The benchmark's own clients are httpx in one Python process: at 32 connections they spend
~2.5 ms of CPU per request, a whole core, so their latencies include the client's own
queueing. wrk spends a few microseconds per request, so its latencies are the server's
(HTTP on loopback included). Each wrk connection sends the requirement variants in turn
(a Lua ``request`` function cycling through them, as the httpx clients do), keeping
the connection open. wrk is optional: ``apt-get install wrk``; without it the table is
skipped with a note.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass
class WrkRun:
    clients: int
    requests: int
    seconds: float
    percentiles: dict[int, float]  # 50, 75, 90, 99 -> ms
    errors: int
    server_cpu_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def available() -> bool:
    return shutil.which("wrk") is not None


def _script(bodies: list[dict[str, Any]]) -> str:
    """Lua for wrk: POST the JSON bodies in turn on each connection."""
    quoted = ", ".join(json.dumps(json.dumps(b)) for b in bodies)
    return ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"local bodies = {{{quoted}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #bodies + 1\n"
            "  return wrk.format(nil, nil, nil, bodies[i])\nend\n")


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(out: str, clients: int, seconds: float) -> WrkRun:
    """The numbers of ``wrk --latency``'s report."""
    percentiles = {int(m.group(1)): _ms(m.group(2))
                   for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M)}
    done = re.search(r"^\s+(\d+) requests in", out, re.M)
    if done is None or len(percentiles) != 4:
        raise ValueError(f"unexpected wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     out)
    errors = (int(bad.group(1)) if bad else 0) + \
        (sum(int(g) for g in sock.groups()) if sock else 0)
    return WrkRun(clients, int(done.group(1)), seconds, percentiles, errors)


def load(url: str, bodies: list[dict[str, Any]], clients: int, seconds: int) -> WrkRun:
    """``clients`` wrk connections on one thread for ``seconds`` (whole seconds, as wrk
    takes them)."""
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "requirements.lua"
        lua.write_text(_script(bodies))
        out = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", str(lua),
             f"{url}/v1/assess"], capture_output=True, text=True, check=True,
            env={**os.environ, "LC_ALL": "C"}).stdout
    return parse(out, clients, seconds)
