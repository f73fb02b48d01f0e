"""Benchmark: start-up of the torch-free ``dhr`` commands against a bare import peer.

    .venv/bin/python benchmarks/startup.py            # 7 runs per command, 100 codes

Each command runs ``--runs`` times in a fresh process on a tiny store (``--codes`` random
32-bit codes, made here with ``dhr import-codes``), interleaved with the peer
``python -c "import numpy, scipy.sparse, h5py, click, pydantic"`` (the libraries every
command needs anyway), so load on the machine hits both alike. Prints the median wall
seconds and the median CPU seconds (user + system of the child process, less sensitive to
other jobs on a shared machine), each as a ratio to the peer's, and whether the wall ratio
meets the target (<= 1.5x).

Children run with Python's bytecode cache on, as an installed ``dhr`` runs
(``PYTHONDONTWRITEBYTECODE`` is removed from their environment, and the warm-up runs
write the project's ``.pyc`` files): with it set, every run would recompile dhr's own
modules while the peer's libraries load their cached bytecode.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PEER = "import numpy, scipy.sparse, h5py, click, pydantic"
TARGET = 1.5
#: The children's environment: the bytecode cache on, as for an installed ``dhr``.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def commands(work: Path) -> dict[str, list[str]]:
    """The measured ``dhr`` argument lists (the store already holds codes, graph and rank)."""
    store, req = str(work / "s.dhr"), str(work / "req.npy")
    return {
        "plugins --json": ["plugins", "--json"],
        "import-codes": ["import-codes", str(work / "codes.npy"), str(work / "t.dhr"),
                         "--overwrite", "-q"],
        "graph": ["graph", store, "-q"],
        "rank": ["rank", store, "-q"],
        "info": ["info", store],
        "assess --requirement-codes": ["assess", store, "--requirement-codes", req, "-q"],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process running ``argv``."""
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENV)
    return time.perf_counter() - start, _children_cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per command")
    ap.add_argument("--codes", type=int, default=100, help="codes in the tiny store")
    args = ap.parse_args()
    dhr = [sys.executable, "-m", "dhr_sdk"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rng = np.random.default_rng(0)
        bits = rng.integers(0, 2, (args.codes, 32), dtype=np.uint8)
        np.save(work / "codes.npy", bits)
        np.save(work / "req.npy", bits[:3])
        for step in (["import-codes", str(work / "codes.npy"), str(work / "s.dhr"), "-q"],
                     ["graph", str(work / "s.dhr"), "-q"], ["rank", str(work / "s.dhr"), "-q"]):
            subprocess.run([*dhr, *step], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=ENV)
        cmds = commands(work)
        for argv in cmds.values():  # warm-up: bytecode cache and disk cache
            run([*dhr, *argv])
        times: dict[str, list[tuple[float, float]]] = {"peer": [], **{n: [] for n in cmds}}
        for _ in range(args.runs):
            times["peer"].append(run([sys.executable, "-c", PEER]))
            for name, argv in cmds.items():
                times[name].append(run([*dhr, *argv]))
    def medians(name: str) -> tuple[float, float]:
        return (statistics.median(t[0] for t in times[name]),
                statistics.median(t[1] for t in times[name]))

    peer_wall, peer_cpu = medians("peer")
    print(f"{args.runs} runs per command, {args.codes} codes of 32 bits; peer: "
          f"python -c \"{PEER}\"\n")
    print(f"{'command':<30} {'wall s':>7} {'x peer':>7} {'CPU s':>7} {'x peer':>7}  "
          f"wall target <= {TARGET}x")
    print(f"{'peer':<30} {peer_wall:>7.3f} {1.0:>7.2f} {peer_cpu:>7.3f} {1.0:>7.2f}")
    for name in cmds:
        wall, cpu = medians(name)
        ratio = wall / peer_wall
        print(f"{'dhr ' + name:<30} {wall:>7.3f} {ratio:>7.2f} {cpu:>7.3f} "
              f"{cpu / peer_cpu:>7.2f}  {'pass' if ratio <= TARGET else 'MISS'}")


if __name__ == "__main__":
    main()
