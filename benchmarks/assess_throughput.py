"""Throughput of on-line assessment: requirement codes per second against a large list.

One command: ``python benchmarks/assess_throughput.py [--codes 1000000] [--queries 10000]``.
It builds a synthetic importance list of ``--codes`` distinct 64-bit codes (clustered, so
requirements really match), then times the ``importance-list`` assessor (Eq. 1 + rank
look-up) on ``--queries`` requirement codes, excluding the backbone forward pass. Peers
measured in the same run on a subset of the queries: a NumPy brute-force scan over every
code, and FAISS ``IndexBinaryFlat.range_search`` (radius + 1, FAISS radii are strict) when
faiss is installed. Prints a table with ratios; target: >= 10,000 codes/s at 1M codes.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from dhr_sdk.codes.packing import pack_bits, to_words
from dhr_sdk.core.registry import get_registry
from dhr_sdk.core.types import ImportanceList


def synthetic_list(n_codes: int, n_bits: int, seed: int) -> ImportanceList:
    """``n_codes`` distinct codes around ``n_codes // 50`` centres, scores sorted descending."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2, size=(max(n_codes // 50, 1), n_bits), dtype=np.uint8)
    codes = np.zeros((0, n_bits // 8), np.uint8)
    while codes.shape[0] < n_codes:
        bits = centres[rng.integers(0, centres.shape[0], size=n_codes)]
        bits ^= (rng.random(bits.shape) < 0.03).astype(np.uint8)
        codes = np.unique(np.concatenate([codes, pack_bits(bits)]), axis=0)
    codes = codes[rng.permutation(codes.shape[0])[:n_codes]]
    scores = np.sort(rng.gamma(2.0, 1.0, size=n_codes))[::-1].copy()
    counts = rng.integers(1, 4, size=n_codes)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return ImportanceList(n_bits, codes, scores, np.arange(1, n_codes + 1), counts, indptr,
                          np.arange(indptr[-1]))


def requirement_codes(il: ImportanceList, n: int, seed: int) -> np.ndarray:
    """Codes of the list with 0-3 random bit flips (near-duplicates of collection images)."""
    rng = np.random.default_rng(seed + 1)
    bits = np.unpackbits(il.codes[rng.integers(0, il.n_codes, size=n)], axis=1)
    for _ in range(3):
        rows = rng.random(n) < 0.5
        bits[rows, rng.integers(0, il.n_bits, size=int(rows.sum()))] ^= 1
    return pack_bits(bits)


def brute_force_counts(il: ImportanceList, queries: np.ndarray, radius: int) -> np.ndarray:
    """Peer: matches per query by scanning every code (NumPy popcount over XOR)."""
    words = to_words(il.codes)
    q = to_words(queries)
    return np.array([int((np.bitwise_count(words ^ q[i]).sum(axis=1) <= radius).sum())
                     for i in range(q.shape[0])])


def faiss_counts(il: ImportanceList, queries: np.ndarray, radius: int) -> np.ndarray | None:
    try:
        import faiss
    except ImportError:
        return None
    faiss.omp_set_num_threads(1)
    index = faiss.IndexBinaryFlat(il.n_bits)
    index.add(il.codes)
    lims, _, _ = index.range_search(queries, radius + 1)
    return np.diff(lims)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codes", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--radius", type=int, default=2)
    ap.add_argument("--peer-queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    il = synthetic_list(args.codes, args.bits, args.seed)
    queries = requirement_codes(il, args.queries, args.seed)
    assessor = get_registry().create("assessor", "importance-list", {"radius": args.radius})
    t0 = time.perf_counter()
    assessor.index_for(il).radius_search(queries[:1], args.radius)  # builds the block tables
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = assessor.assess(il, queries)
    dhr_time = time.perf_counter() - t0
    matched = np.array([m.matched_codes for m in result.per_image])

    sub = queries[:args.peer_queries]
    rows = [("dhr importance-list (multi-index)", dhr_time, args.queries)]
    t0 = time.perf_counter()
    bf = brute_force_counts(il, sub, args.radius)
    rows.append(("numpy brute-force scan", time.perf_counter() - t0, sub.shape[0]))
    assert np.array_equal(bf, matched[:sub.shape[0]]), "assessor and brute force disagree"
    t0 = time.perf_counter()
    fc = faiss_counts(il, sub, args.radius)
    if fc is not None:
        rows.append(("faiss IndexBinaryFlat range_search", time.perf_counter() - t0,
                     sub.shape[0]))
        assert np.array_equal(fc, matched[:sub.shape[0]]), "assessor and faiss disagree"

    print(f"importance list: {il.n_codes:,} distinct {args.bits}-bit codes, radius "
          f"{args.radius}; index build {build:.2f} s (once per loaded list); "
          f"mean matched codes per query {matched.mean():.1f}; R = {result.relevance:.4f}")
    base = args.queries / dhr_time
    print(f"{'method':38s} {'queries':>8s} {'seconds':>9s} {'codes/s':>11s} {'dhr speed-up':>13s}")
    for name, secs, n in rows:
        rate = n / secs
        print(f"{name:38s} {n:8d} {secs:9.3f} {rate:11,.0f} {base / rate:12.1f}x")
    verdict = "PASS" if base >= 10_000 else "FAIL"
    print(f"target >= 10,000 requirement codes/s: {verdict} ({base:,.0f} codes/s)")


if __name__ == "__main__":
    main()
