"""Latency of ``dhr serve`` against the same assessment through the ``dhr assess`` CLI.

One command: ``python benchmarks/serve_latency.py [--demo DIR] [--requests 50] [--cli-runs 5]``.
It builds the built-in demo stores with ``dhr demo -o DIR`` (reused when ``DIR/stores``
exists: 8 collections of 1,000 images, one ITQ model), starts ``dhr serve DIR/stores`` on
127.0.0.1 and times, from the client, ``POST /v1/assess`` with the requirement as hex codes
and as a multipart upload of its images. The peer, measured in the same run, is the same
assessment by ``dhr assess`` in a subprocess per request (a fresh process each time: start-up,
imports, opening the stores, building the model and indexes). Both paths must rank the
collections in the same order. Prints a table of p50/p95 in ms and the CLI/server ratio.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

BIN = Path(sys.executable).parent


def demo_stores(demo: Path) -> list[Path]:
    stores = sorted((demo / "stores").glob("*.h5"))
    if not stores:
        subprocess.run([str(BIN / "dhr"), "demo", "-o", str(demo)], check=True,
                       stdout=subprocess.DEVNULL)
        stores = sorted((demo / "stores").glob("*.h5"))
    return stores


def requirement_images(demo: Path, n: int) -> list[Path]:
    """The first requirement class of the demo: its held-out images (``n`` at most)."""
    folders = sorted(p for p in (demo / "data" / "requirements").iterdir() if p.is_dir())
    return sorted(folders[0].glob("*.png"))[:n]


def hex_codes(demo: Path, images: list[Path]) -> list[str]:
    from dhr_sdk.assessment.targets import encode_images
    from dhr_sdk.model.hash_model import load_model

    return [c.tobytes().hex() for c in encode_images(load_model(demo / "model.h5"), images)]


def percentiles(ms: list[float]) -> tuple[float, float]:
    q = np.percentile(ms, [50, 95])
    return float(q[0]), float(q[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(stores: list[Path]) -> tuple[subprocess.Popen[str], str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "dhr"), "serve", *map(str, stores), "--port", str(port),
                             "-q"], text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("dhr serve did not become healthy in 120 s")


def time_server(client: httpx.Client, n: int, **request: Any) -> tuple[list[float], list[str]]:
    ms, order = [], []
    for _ in range(n):
        t = time.perf_counter()
        r = client.post("/v1/assess", **request)
        ms.append(1e3 * (time.perf_counter() - t))
        r.raise_for_status()
        order = [c["name"] for c in r.json()["collections"]]
    return ms, order


def time_cli(args: list[str], n: int) -> tuple[list[float], list[str]]:
    ms, order = [], []
    for _ in range(n):
        t = time.perf_counter()
        out = subprocess.run([str(BIN / "dhr"), "assess", *args, "--json"], check=True,
                             capture_output=True, text=True).stdout
        ms.append(1e3 * (time.perf_counter() - t))
        order = [r["collection"] for r in json.loads(out)["results"]]
    return ms, order


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("dhr-demo"),
                    help="demo folder (built with 'dhr demo -o' when it has no stores)")
    ap.add_argument("--requests", type=int, default=50, help="timed requests per server path")
    ap.add_argument("--cli-runs", type=int, default=5, help="timed 'dhr assess' runs per path")
    ap.add_argument("--images", type=int, default=20, help="requirement images")
    args = ap.parse_args()

    stores = demo_stores(args.demo)
    images = requirement_images(args.demo, args.images)
    codes = hex_codes(args.demo, images)
    files = [("images", (p.name, p.read_bytes(), "image/png")) for p in images]
    proc, url, startup = start_server(stores)
    rows = []
    try:
        with httpx.Client(base_url=url, timeout=120) as client, \
                tempfile.TemporaryDirectory() as tmp:
            n_images = sum(c["n_images"] for c in client.get("/v1/collections").json()
                           ["collections"])
            bits = np.unpackbits(np.array([list(bytes.fromhex(c)) for c in codes], np.uint8),
                                 axis=1).astype(bool)
            np.save(Path(tmp) / "codes.npy", bits)
            image_args = [a for p in images for a in ("-r", str(p))]
            paths: dict[str, tuple[dict[str, Any], list[str]]] = {
                "codes (JSON hex)": ({"json": {"codes": codes}},
                                     ["--requirement-codes", str(Path(tmp) / "codes.npy")]),
                "images (multipart)": ({"files": files}, image_args),
            }
            for name, (request, cli_args) in paths.items():
                time_server(client, 3, **request)  # warm-up: first index builds, allocations
                served, order = time_server(client, args.requests, **request)
                cli, cli_order = time_cli([*cli_args, *map(str, stores)], args.cli_runs)
                if order != cli_order:
                    raise SystemExit(f"{name}: server and CLI rank differently: {order} vs "
                                     f"{cli_order}")
                rows.append((name, percentiles(served), percentiles(cli)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(f"{len(stores)} demo stores ({n_images:,} images), requirement of {len(images)} "
          f"images; dhr serve start-up to healthy: {startup:.2f} s")
    print(f"server: {args.requests} requests per path (client-side, HTTP included); "
          f"CLI: {args.cli_runs} runs of 'dhr assess --json' in a fresh process")
    print()
    print("| requirement | server p50 ms | server p95 ms | CLI p50 ms | CLI p95 ms | "
          "CLI / server (p50) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (s50, s95), (c50, c95) in rows:
        print(f"| {name} | {s50:.1f} | {s95:.1f} | {c50:.0f} | {c95:.0f} | "
              f"{c50 / s50:.0f}x |")


if __name__ == "__main__":
    main()
