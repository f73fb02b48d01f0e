"""Latency, throughput and memory of ``dhr serve`` under concurrent clients.

One command: ``python benchmarks/serve.py [--root build/serve-bench] [--requests 500]``.
It builds (once, cached under ``--root``; ``benchmarks/serve_stores.py``) 8 stores of
100,000 clustered 64-bit codes, one of 1,000,000, and the 8 demo image stores (ITQ 32 bits,
``pixels`` backbone); starts ``dhr serve`` on all of them on a free 127.0.0.1 port, and
times ``POST /v1/assess`` from httpx clients (asyncio, N connections each sending one
request after the other):

- a requirement of 20 codes (JSON hex) against the 8 x 100,000 collections and against the
  1,000,000-code collection, at 1, 8 and 32 concurrent clients; the requests cycle through
  ``--variants`` (8) requirements (the held-out codes, and copies with one bit of each code
  flipped), so an answer never comes from the search of the request before it;
- a requirement of 20 images (multipart) against the 8 image collections, at 1 and 8 clients;
- a soak of ``--soak`` (10,000) code requests at 8 clients: errors, and the server
  process's resident memory (``VmRSS`` of ``/proc/PID/status``) before, during and after;
- the code scenarios again with ``dhr serve --workers 2`` (``--workers 1,2``: each count in
  turn; CPU and memory are summed over the server's processes);
- the code scenarios at 8 and 32 connections from wrk, a load generator in C, when it is
  installed (``benchmarks/serve_wrk.py``): latencies without the Python clients' own CPU.

Every answer to the same requirement must be byte-identical (``elapsed_ms`` aside) whatever
the concurrency. The clients' CPU per request is printed beside the server's: on 2 cores
they compete for the same CPUs. Peers measured in the same run: the same assessment in this
process through the library (stores opened and assessors warm, answer turned into JSON: the
work without HTTP), and ``dhr assess --json`` in a fresh process (``--cli-runs`` runs); both
must rank the collections as the server does. Prints the tables with the targets and
pass/MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import serve_stores
import serve_wrk
from serve_process import start_server, tree_cpu_s, tree_rss_mb

BIN = Path(sys.executable).parent
TARGET_CODES_MS = 50.0  # p99 of code requirements at 8 clients
TARGET_IMAGES_MS = 200.0  # p99 of 20-image requirements at 1 client
RSS_GROWTH = 0.05  # "flat": the soak's last RSS within 5 % of its first


@dataclass
class Run:
    ms: list[float]
    wall: float
    errors: int
    answers: set[tuple[int, str]]  # (variant, answer digest)
    order: list[str]  # the ranking answered to variant 0
    server_cpu_ms: float = 0.0  # server CPU per request
    client_cpu_ms: float = 0.0  # this process's CPU per request (the httpx clients)

    def q(self, p: float) -> float:
        return float(np.percentile(self.ms, p))


def _key(body: bytes) -> str:
    """The answer without its timing (``elapsed_ms`` is the answer's last key)."""
    head = body.rsplit(b',"elapsed_ms":', 1)[0]
    return hashlib.sha1(head).hexdigest()


async def _load(url: str, requests: list[dict[str, Any]], clients: int, n: int) -> Run:
    """``n`` requests from ``clients`` connections, request ``i`` being ``requests[i % len]``
    (variants, so that no answer is served from the last search of the same question)."""
    ms: list[float] = []
    answers: set[tuple[int, str]] = set()
    errors = 0
    first = b""
    todo = iter(range(n))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors, first
            for i in todo:
                variant = i % len(requests)
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/assess", **requests[variant])
                except httpx.HTTPError:
                    errors += 1
                    continue
                ms.append(1e3 * (time.perf_counter() - t))
                if r.status_code != 200:
                    errors += 1
                    continue
                answers.add((variant, _key(r.content)))
                if variant == 0:
                    first = r.content

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
        client_cpu = time.process_time() - cpu0
    order = [c["name"] for c in json.loads(first)["collections"]] if first else []
    run = Run(ms, wall, errors, answers, order)
    run.client_cpu_ms = 1e3 * client_cpu / max(1, len(ms))
    return run


def load(url: str, requests: list[dict[str, Any]], clients: int, n: int) -> Run:
    return asyncio.run(_load(url, requests, clients, n))


def one_answer_each(answers: set[tuple[int, str]]) -> bool:
    """Every variant was answered the same way every time."""
    variants = [v for v, _ in answers]
    return len(variants) == len(set(variants))


def code_variants(codes: list[str], n: int, seed: int) -> list[list[str]]:
    """``codes`` and ``n - 1`` variants of them, each code with one bit flipped (seeded): the
    same kind of question, not the same question."""
    rng = np.random.default_rng(seed)
    out = [codes]
    for _ in range(n - 1):
        variant = []
        for h in codes:
            raw = bytearray(bytes.fromhex(h))
            bit = int(rng.integers(8 * len(raw)))
            raw[bit // 8] ^= 1 << (bit % 8)
            variant.append(raw.hex())
        out.append(variant)
    return out


def library_peer(stores: list[Path], codes: list[list[str]] | None,
                 images: list[Path] | None, n: int) -> Run:
    """The same assessment in this process: stores opened and assessors warm, as the server
    keeps them; each run encodes (images), assesses and turns the answer into JSON. Code
    requirements cycle through the same variants as the server's clients."""
    from dhr_sdk.assessment.assess import assess_targets, make_assessor, paper_assessor_for
    from dhr_sdk.assessment.requirement import load_requirement
    from dhr_sdk.assessment.targets import ImageEncoder, open_target
    from dhr_sdk.model.hash_model import HashModel
    from dhr_sdk.serve.inputs import codes_requirement

    targets = [open_target(s, need_model=codes is None) for s in stores]
    ranking = make_assessor()
    paper = paper_assessor_for(ranking)
    if codes is not None:
        reqs = [codes_requirement(c, None) for c in codes]
    else:
        assert images is not None and targets[0].model_record is not None
        reqs = [load_requirement(images)]
        encoder = ImageEncoder(HashModel.from_record(targets[0].model_record))
    ms, order = [], []
    for i in range(n + 3):  # 3 warm-up runs (index builds, network build)
        req = reqs[(i - 3) % len(reqs)]
        started = time.perf_counter()
        if codes is not None:
            by_model = {target.model_id: req.codes for target in targets}
        else:
            by_model = {targets[0].model_id: encoder(req.paths)}
        report = assess_targets(req, targets, ranking, paper=paper, top_images=6,
                                codes_by_model=by_model)
        json.dumps(report.to_json())
        if i >= 3:
            ms.append(1e3 * (time.perf_counter() - started))
        if req is reqs[0]:
            order = [r.target.name for r in report.results]
    return Run(ms, sum(ms) / 1e3, 0, set(), order)


def cli_peer(args: list[str], n: int) -> Run:
    ms, order = [], []
    for _ in range(n):
        t = time.perf_counter()
        out = subprocess.run([str(BIN / "dhr"), "assess", *args, "--json"], check=True,
                             capture_output=True, text=True).stdout
        ms.append(1e3 * (time.perf_counter() - t))
        order = [r["collection"] for r in json.loads(out)["results"]]
    return Run(ms, sum(ms) / 1e3, 0, set(), order)


def _verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("build/serve-bench"),
                    help="where the stores are built and cached")
    ap.add_argument("--requests", type=int, default=500, help="timed code requests per level")
    ap.add_argument("--image-requests", type=int, default=200,
                    help="timed image requests per level")
    ap.add_argument("--soak", type=int, default=10_000, help="requests of the soak")
    ap.add_argument("--peer-runs", type=int, default=100, help="library peer runs per scenario")
    ap.add_argument("--cli-runs", type=int, default=3, help="'dhr assess' runs per scenario")
    ap.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2],
                    help="server process counts measured, comma-separated; the first also "
                         "runs the image scenario and the soak")
    ap.add_argument("--wrk-seconds", type=int, default=8,
                    help="duration of each wrk run (the code scenarios at 8 and 32 "
                         "connections, per worker count; 0 skips wrk)")
    ap.add_argument("--variants", type=int, default=8,
                    help="code requirements cycled through per scenario (one bit flipped per "
                         "code), so that no request repeats the one before it")
    args = ap.parse_args()

    b = serve_stores.build(args.root)
    files = [("images", (p.name, p.read_bytes(), "image/png")) for p in b.requirement_images]
    image_names = [p.stem for p in b.images]
    small = code_variants(b.small_codes, args.variants, seed=1)
    big = code_variants(b.big_codes, args.variants, seed=2)
    scenarios: dict[str, tuple[list[dict[str, Any]], list[int], list[Path]]] = {
        "20 codes x 8 collections of 100,000": (
            [{"json": {"codes": c, "collections": [p.stem for p in b.small]}} for c in small],
            [1, 8, 32], b.small),
        "20 codes x 1 collection of 1,000,000": (
            [{"json": {"codes": c, "collections": [b.big.stem]}} for c in big], [1, 8, 32],
            [b.big]),
        "20 images x 8 collections of 1,000": (
            [{"files": files, "data": {"collection": image_names}}], [1, 8], b.images),
    }
    load_avg = os.getloadavg()
    rows: list[tuple[int, str, int, Run]] = []
    rss_steps: list[tuple[str, float]] = []  # server RSS after each scenario
    wrk_rows: list[tuple[int, str, serve_wrk.WrkRun]] = []
    use_wrk = args.wrk_seconds > 0 and serve_wrk.available()
    first_order: dict[str, list[str]] = {}
    for workers in args.workers:
        first = workers == args.workers[0]
        measured = {k: v for k, v in scenarios.items() if first or "codes" in k}
        probe = scenarios["20 codes x 8 collections of 100,000"][0][0]
        proc, url, startup_w = start_server([*b.small, b.big, *b.images], workers, probe)
        try:
            if first:
                startup, rss_loaded = startup_w, tree_rss_mb(proc)
            for name, (requests, levels, _) in measured.items():
                n = args.image_requests if "images" in name else args.requests
                load(url, requests, 1, 5)  # warm-up: first encodes
                answers: set[tuple[int, str]] = set()
                for clients in levels:
                    cpu = tree_cpu_s(proc)
                    run = load(url, requests, clients, n)
                    run.server_cpu_ms = 1e3 * (tree_cpu_s(proc) - cpu) / max(1, len(run.ms))
                    answers |= run.answers
                    rows.append((workers, name, clients, run))
                    print(f"# {workers} worker(s), {name}, {clients} client(s): p50 "
                          f"{run.q(50):.1f} ms, p99 {run.q(99):.1f} ms, "
                          f"{len(run.ms) / run.wall:.0f} req/s", flush=True)
                if not one_answer_each(answers):
                    raise SystemExit(f"{name}: a requirement was answered differently across "
                                     "requests")
                if first:
                    rss_steps.append((name, tree_rss_mb(proc)))
                order = rows[-1][3].order
                if first_order.setdefault(name, order) != order:
                    raise SystemExit(f"{name}: {workers} workers rank differently")
            for name, (requests, _, _) in measured.items():
                if not use_wrk or "images" in name:
                    continue
                for clients in (8, 32):
                    cpu = tree_cpu_s(proc)
                    wrun = serve_wrk.load(url, [r["json"] for r in requests], clients,
                                          args.wrk_seconds)
                    wrun.server_cpu_ms = 1e3 * (tree_cpu_s(proc) - cpu) / max(1, wrun.requests)
                    wrk_rows.append((workers, name, wrun))
                    print(f"# wrk, {workers} worker(s), {name}, {clients} connections: p50 "
                          f"{wrun.percentiles[50]:.1f} ms, p99 {wrun.percentiles[99]:.1f} ms",
                          flush=True)
            if first:
                code_request = scenarios["20 codes x 8 collections of 100,000"][0]
                soak_rss = [tree_rss_mb(proc)]
                soak_answers: set[tuple[int, str]] = set()
                soak_errors, chunk = 0, max(1, args.soak // 5)
                t0 = time.perf_counter()
                for start in range(0, args.soak, chunk):
                    run = load(url, code_request, 8, min(chunk, args.soak - start))
                    soak_errors += run.errors + (min(chunk, args.soak - start) - len(run.ms))
                    soak_answers |= run.answers
                    soak_rss.append(tree_rss_mb(proc))
                soak_wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=60)

    peers = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (requests, _, stores) in scenarios.items():
            codes = [r["json"]["codes"] for r in requests] if "json" in requests[0] else None
            lib = library_peer(stores, codes, None if codes else b.requirement_images,
                                  args.peer_runs if codes else max(10, args.peer_runs // 5))
            if codes:
                bits = np.unpackbits(np.array([list(bytes.fromhex(c)) for c in codes[0]],
                                              np.uint8), axis=1).astype(bool)
                npy = Path(tmp) / f"{len(peers)}.npy"
                np.save(npy, bits)
                cli_args = ["--requirement-codes", str(npy)]
            else:
                cli_args = [a for p in b.requirement_images for a in ("-r", str(p))]
            cli = cli_peer([*cli_args, *map(str, stores)], args.cli_runs)
            for peer, run in (("library", lib), ("dhr assess", cli)):
                if run.order != first_order[name]:
                    raise SystemExit(f"{name}: server and {peer} rank differently: "
                                     f"{first_order[name]} vs {run.order}")
            peers.append((name, lib, cli))
    _print(args, b, startup, rss_loaded, load_avg, rows, peers, soak_rss, soak_errors,
           soak_answers, soak_wall)
    _print_wrk(wrk_rows, args.wrk_seconds, use_wrk)
    print("server RSS MB: loaded " + f"{rss_loaded:.0f}" +
          "".join(f", after {name} {rss:.0f}" for name, rss in rss_steps))


def _print(args: argparse.Namespace, b: serve_stores.BenchStores, startup: float,
           rss_loaded: float, load_avg: tuple[float, float, float],
           rows: list[tuple[int, str, int, Run]],
           peers: list[Any], soak_rss: list[float], soak_errors: int,
           soak_answers: set[tuple[int, str]],
           soak_wall: float) -> None:
    print(f"\nserver: {len(b.small) + 1 + len(b.images)} collections "
          f"({len(b.small)} x 100,000 + 1,000,000 64-bit codes, {len(b.images)} x 1,000 demo "
          f"images); start-up until answering {startup:.1f} s, RSS when loaded "
          f"{rss_loaded:.0f} MB; "
          f"load average at start {load_avg[0]:.1f} (2-core machine shared with other jobs)")
    print("latency from the client (HTTP on 127.0.0.1 included); the clients run in the "
          "benchmark's process, on the same 2 cores as the server\n")
    print("| requirement | workers | clients | requests | p50 ms | p99 ms | requests/s | server "
          "CPU ms/request | client CPU ms/request | errors | target (p99) | result |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for workers, name, clients, run in rows:
        images = "images" in name
        target, ok = "", ""
        if not images and clients == 8:
            target, ok = f"≤ {TARGET_CODES_MS:.0f} ms", _verdict(run.q(99) <= TARGET_CODES_MS)
        if images and clients == 1:
            target, ok = f"≤ {TARGET_IMAGES_MS:.0f} ms", _verdict(run.q(99) <= TARGET_IMAGES_MS)
        print(f"| {name} | {workers} | {clients} | {len(run.ms)} | {run.q(50):.1f} | "
              f"{run.q(99):.1f} | "
              f"{len(run.ms) / run.wall:.0f} | {run.server_cpu_ms:.1f} | "
              f"{run.client_cpu_ms:.1f} | {run.errors} | "
              f"{target} | {ok} |")
    growth = (soak_rss[-1] - soak_rss[0]) / soak_rss[0]
    flat = soak_errors == 0 and one_answer_each(soak_answers) and growth <= RSS_GROWTH
    print(f"\nsoak: {args.soak:,} code requests (8 x 100,000, 8 clients) in {soak_wall:.0f} s, "
          f"{soak_errors} errors, {len(soak_answers)} distinct answer(s) to "
          f"{len({v for v, _ in soak_answers})} requirement(s); server RSS MB "
          f"{' -> '.join(f'{r:.0f}' for r in soak_rss)} ({100 * growth:+.1f} %); target: no "
          f"error and RSS within {100 * RSS_GROWTH:.0f} %: {_verdict(flat)}\n")
    print("| requirement | server p50 ms (1 client) | library p50 ms | library p99 ms | "
          "server / library | dhr assess p50 ms | dhr assess / server |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, lib, cli in peers:
        server = next(run for _, n, c, run in rows if n == name and c == 1)
        print(f"| {name} | {server.q(50):.1f} | {lib.q(50):.1f} | {lib.q(99):.1f} | "
              f"{server.q(50) / lib.q(50):.2f} | {cli.q(50):.0f} | "
              f"{cli.q(50) / server.q(50):.0f}x |")
    print(f"\nlibrary: {args.peer_runs} runs per code scenario in this process (assess + "
          f"answer JSON, no HTTP); dhr assess: {args.cli_runs} fresh processes per scenario; "
          "all rank the collections as the server does.")


def _print_wrk(rows: list[tuple[int, str, serve_wrk.WrkRun]], seconds: int,
               used: bool) -> None:
    if not used:
        print("\nwrk: not run (" + ("--wrk-seconds 0" if seconds <= 0 else
                                   "not installed: apt-get install wrk") + ")")
        return
    print(f"\nthe code scenarios from wrk (C, one thread, {seconds} s per row, the same "
          "requirement variants in turn): the server's latency without the Python clients' "
          "own queueing\n")
    print("| requirement | workers | connections | requests | p50 ms | p90 ms | p99 ms | "
          "requests/s | server CPU ms/request | errors | target (p99) | result |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for workers, name, run in rows:
        p = run.percentiles
        target, ok = ("", "") if run.clients != 8 else \
            (f"≤ {TARGET_CODES_MS:.0f} ms", _verdict(p[99] <= TARGET_CODES_MS))
        print(f"| {name} | {workers} | {run.clients} | {run.requests} | {p[50]:.1f} | "
              f"{p[90]:.1f} | {p[99]:.1f} | {run.rate:.0f} | {run.server_cpu_ms:.2f} | "
              f"{run.errors} | {target} | {ok} |")


if __name__ == "__main__":
    main()
