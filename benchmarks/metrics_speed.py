"""Speed of the retrieval metrics: ``evaluate_retrieval`` vs the usual per-query loop.

One command: ``python benchmarks/metrics_speed.py [--queries 1000] [--database 10000]``.
Random packed codes and 10-class labels; ``dhr`` computes every metric (mAP@1000, full
mAP, MAP/P/R@HD<=2, PR by radius, precision@k) in one chunked pass. The peer, measured in
the same run, is the per-query loop most hashing repositories use (DeepHash-pytorch's
``CalcTopMap`` pattern: Hamming distances from ±1 codes by inner product, argsort,
cumulative precision) computing mAP@1000 only; both must agree on mAP@1000. Target: all
metrics for 1,000 queries x 10,000 codes in about a second on one core.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from dhr_sdk.codes.packing import unpack_bits
from dhr_sdk.evaluation.metrics import evaluate_retrieval


def loop_map_at_k(qc: np.ndarray, dbc: np.ndarray, ql: np.ndarray, dbl: np.ndarray,
                  topk: int) -> float:
    """The common per-query implementation (with a stable sort, so ties match ours)."""
    qb = unpack_bits(qc).astype(np.float64) * 2 - 1
    db = unpack_bits(dbc).astype(np.float64) * 2 - 1
    n_bits = qb.shape[1]
    total = 0.0
    for i in range(qb.shape[0]):
        gnd = (dbl == ql[i]).astype(np.float64)
        hamm = 0.5 * (n_bits - db @ qb[i])
        ind = np.argsort(hamm, kind="stable")
        tgnd = gnd[ind][:topk]
        tsum = int(tgnd.sum())
        if tsum == 0:
            continue
        count = np.linspace(1, tsum, tsum)
        tindex = np.flatnonzero(tgnd) + 1.0
        total += float(np.mean(count / tindex))
    return total / qb.shape[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--database", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for n_bits in (16, 32, 64):
        qc = rng.integers(0, 256, (args.queries, n_bits // 8), dtype=np.uint8)
        dbc = rng.integers(0, 256, (args.database, n_bits // 8), dtype=np.uint8)
        ql, dbl = rng.integers(0, 10, args.queries), rng.integers(0, 10, args.database)
        start = time.perf_counter()
        ours = evaluate_retrieval(qc, dbc, ql, dbl)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        peer = loop_map_at_k(qc, dbc, ql, dbl, 1000)
        t_peer = time.perf_counter() - start
        assert abs(ours.map_at["1000"] - peer) < 1e-9, (ours.map_at["1000"], peer)
        rows.append((n_bits, t_ours, t_peer, t_peer / t_ours))
    print(f"{args.queries} queries x {args.database} database codes, OMP_NUM_THREADS="
          f"{os.environ['OMP_NUM_THREADS']}")
    print(f"{'bits':>4}  {'dhr all metrics s':>17}  {'loop mAP@1000 s':>15}  {'ratio':>5}")
    for n_bits, a, b, r in rows:
        print(f"{n_bits:>4}  {a:>17.3f}  {b:>15.3f}  {r:>5.1f}x")


if __name__ == "__main__":
    main()
