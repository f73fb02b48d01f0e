"""Benchmark: start-up of the torch-free ``dhr`` commands against a bare import peer.

    .venv/bin/python benchmarks/startup.py            # 7 runs per command, 100 codes

Each command runs ``--runs`` times in a fresh process on a tiny store (``--codes`` random
32-bit codes, made here with ``dhr import-codes``), interleaved with the peer
``python -c "import numpy, scipy.sparse, h5py, click, pydantic"`` (the libraries every
command needs anyway), so load on the machine hits both alike. Prints the median wall
seconds, the ratio to the peer's median and whether it meets the target (<= 1.5x).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PEER = "import numpy, scipy.sparse, h5py, click, pydantic"
TARGET = 1.5


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


def run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


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
                           stderr=subprocess.DEVNULL)
        cmds = commands(work)
        times: dict[str, list[float]] = {"peer": [], **{name: [] for name in cmds}}
        for _ in range(args.runs):
            times["peer"].append(run([sys.executable, "-c", PEER]))
            for name, argv in cmds.items():
                times[name].append(run([*dhr, *argv]))
    peer = statistics.median(times["peer"])
    print(f"{args.runs} runs per command, {args.codes} codes of 32 bits; peer: "
          f"python -c \"{PEER}\"\n")
    print(f"{'command':<28} {'median s':>9} {'x peer':>7}  target <= {TARGET}x")
    print(f"{'peer':<28} {peer:>9.3f} {1.0:>7.2f}")
    for name in cmds:
        med = statistics.median(times[name])
        ratio = med / peer
        print(f"{'dhr ' + name:<28} {med:>9.3f} {ratio:>7.2f}  "
              f"{'pass' if ratio <= TARGET else 'MISS'}")


if __name__ == "__main__":
    main()
