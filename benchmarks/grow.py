"""Benchmark: adding 1 % to a million-code store (``add_codes``) against a full rebuild.

    .venv/bin/python benchmarks/grow.py          # 1,000,000 + 10,000 codes x 64 bits

Synthetic clustered codes as in ``benchmarks/graph_rank.py`` (random centres, each bit
flipped with probability ``--flip``; radius 2; CPR with ``solver=closed``). The store of the
first million codes is built once (untimed); then, in the same run and best of
``--repeat``:

* **store, add**: ``add_codes`` of 10,000 codes into a copy of that store (in place on a
  format 2.0 store: partial reads, the new codes' neighbourhoods, the touched components'
  scores, a merged importance list, one journaled in-place edit), in two scenarios: the
  honest one, codes drawn from all the store's clusters (they touch most components), and
  codes from ``--new-centres`` clusters the store does not hold (new images of new kinds);
* **store, rebuild**: ``graph_and_rank`` on a store already holding all 1,010,000 codes
  (read, graph, rank, importance list, one store write), and the same after
  ``import_codes`` of all of them (the rebuild then writes the collection and the codes
  too, as ``add_codes`` does);
* **image store** (``--features-dim``, 0 skips it; :mod:`grow_images`): a store built
  from a folder of files, with their signature, cached backbone features (synthetic
  clustered rows: ``--centres`` centres in 512 dimensions, the width of ``resnet18``,
  Gaussian noise ``--feature-noise``) and an ITQ model (``--bits``, fitted once on 10,000
  rows, untimed). Add = encode the 10,000 new files' feature rows + ``add_codes`` with
  them, which is ``dhr add`` without the backbone forward; rebuild = the pipeline of
  ``dhr build FOLDER -o STORE --model`` on a store that caches every file's features
  (listing, signature, reading and checking the 2 GB of features, encoding, graph, rank,
  importance list, the store's replacement). The forward of the new images, which both
  need, is in neither;
* **in memory**: the same two computations without the store (``grow_graph`` +
  ``rerank_closed`` + importance list against the ``hamming`` builder + the ``cpr`` ranker +
  importance list), which is what the incremental path changes;
* **a series of adds** (``--series``, 0 skips it): that many successive adds of ``--add``
  more codes from the store's clusters into one copy of the store, each timed with the
  compaction it may trigger (``dhr add`` rewrites its scores and importance list into fresh
  space and compacts the file when dead bytes exceed half of it), with the file size after
  each; the mean time per add, compactions included, is compared with the rebuilds above.

Both results are checked equal (same edges, scores and importance list). The store copy
that an add edits is fsynced before the add is timed: the add's own fsync would otherwise
also write out the copy's dirty pages (a store in use was written long before).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _best(fn: Callable[[], Any], repeat: int, setup: Callable[[], None] | None = None
          ) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
              for r in rows]
    return "\n".join(lines)


def _store(path: Path, codes: np.ndarray, tmp: Path) -> None:
    from dhr_sdk.offline.relevance import import_codes

    np.save(tmp / "codes.npy", codes)
    import_codes(path, tmp / "codes.npy", overwrite=True)


def _copy(src: Path, dst: Path) -> None:
    """``dst`` := ``src``, on disk (so that a timed fsync of ``dst`` writes only the add)."""
    shutil.copy(src, dst)
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())


def _more_codes(n: int, bits: int, centres: int, flip: float, seed: int) -> np.ndarray:
    """``n`` more codes around the centres of ``clustered_codes(..., seed=0)`` (its other
    draws from ``seed``)."""
    from dhr_sdk.codes.packing import pack_bits

    c = np.random.default_rng(0).integers(0, 2, size=(centres, bits), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    b = c[rng.integers(0, centres, size=n)]
    b ^= (rng.random((n, bits)) < flip).astype(np.uint8)
    return pack_bits(b)


def _series(args: argparse.Namespace, base: Path, tmp: Path) -> list[tuple[float, bool, int, int]]:
    """Successive adds into one copy of ``base``: (seconds, compacted, file bytes, dead
    bytes) after each."""
    from dhr_sdk.offline.grow import add_codes
    from dhr_sdk.store.compaction import space

    path = tmp / "series.h5"
    _copy(base, path)
    more = _more_codes(args.add * args.series, args.bits, args.centres, args.flip, seed=3)
    out = []
    for k in range(args.series):
        first = args.n + args.add * (k + 1)  # names after the first add's
        names = [f"{i:08d}" for i in range(first, first + args.add)]
        start = time.perf_counter()
        rep = add_codes(path, more[k * args.add:(k + 1) * args.add], names)
        seconds = time.perf_counter() - start
        got = space(path)
        out.append((seconds, rep.compacted, got.file_bytes, got.dead_bytes))
    path.unlink()
    return out


def _features(n: int, dim: int, centres: int, noise: float, seed: int) -> np.ndarray:
    """Clustered float32 features: a random centre per row plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        out[a:b] = c[rng.integers(0, centres, b - a)]
        out[a:b] += np.float32(noise) * rng.standard_normal((b - a, dim), dtype=np.float32)
    return out


def _encoded(args: argparse.Namespace, builder: Any, ranker: Any, tmp: Path
             ) -> tuple[float, float, Any, bool]:
    """The image-store scenario (:mod:`grow_images`): (add s, rebuild s, add report, equal)."""
    from grow_images import image_store

    from dhr_sdk.core.interfaces import FitData
    from dhr_sdk.core.registry import get_registry

    x = _features(args.n + args.add, args.features_dim, args.centres, args.feature_noise, 2)
    hasher = get_registry().create("hasher", "itq", {"n_bits": args.bits, "seed": 0})
    hasher.fit(FitData(features=x[:10_000]))
    return image_store(args, x, hasher, builder, ranker, tmp, _best, _copy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--add", type=int, default=10_000)
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--centres", type=int, default=2000)
    ap.add_argument("--flip", type=float, default=0.03)
    ap.add_argument("--radius", type=int, default=2)
    ap.add_argument("--new-centres", type=int, default=10,
                    help="Centres of the second scenario's new codes (clusters not in the store)")
    ap.add_argument("--features-dim", type=int, default=512, choices=(0, 512),
                    help="Feature dimension of the image-store scenario (resnet18's; 0: skip "
                    "it)")
    ap.add_argument("--feature-noise", type=float, default=0.25,
                    help="Noise of the synthetic features around their centre")
    ap.add_argument("--series", type=int, default=10,
                    help="Successive adds into one store, compactions included (0: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--target", type=float, default=20.0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # the sparse-graph advice is not what is measured

    from dhr_sdk.core.registry import get_registry
    from dhr_sdk.offline.grow import add_codes
    from dhr_sdk.offline.grow_graph import grow_graph, rerank_closed
    from dhr_sdk.offline.importance import build_importance_list
    from dhr_sdk.offline.relevance import graph_and_rank, import_codes
    from dhr_sdk.store import Store
    from dhr_sdk.testing import clustered_codes

    codes = clustered_codes(args.n + args.add, args.bits, args.centres, args.flip, seed=0)
    old, new = codes[:args.n], codes[args.n:]
    names = [f"{i:08d}" for i in range(args.n, args.n + args.add)]
    reg = get_registry()
    builder = reg.create("graph_builder", "hamming", {"radius": args.radius})
    ranker = reg.create("ranker", "cpr", {"solver": "closed"})
    print(f"# {args.n:,} codes + {args.add:,} new x {args.bits} bits, {args.centres} centres, "
          f"flip {args.flip}, radius {args.radius}, cpr solver=closed, best of {args.repeat}")
    fresh = clustered_codes(args.add, args.bits, args.new_centres, args.flip, seed=1)
    scenarios = [("1 % from all clusters", new), (f"1 % from {args.new_centres} new clusters",
                                                 fresh)]
    store_rows, same = [], True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base, grown, full = tmp / "base.h5", tmp / "grown.h5", tmp / "full.h5"
        _store(base, old, tmp)
        graph_and_rank(base, builder, ranker)
        for label, added in scenarios:
            everything = np.concatenate([old, added])
            _store(full, everything, tmp)
            t_add, rep = _best(lambda added=added: add_codes(grown, added, names),
                               args.repeat, lambda: _copy(base, grown))
            t_full, _ = _best(lambda: graph_and_rank(full, builder, ranker),
                              args.repeat)
            np.save(tmp / "all.npy", everything)

            def from_codes() -> None:
                import_codes(full, tmp / "all.npy", overwrite=True)
                graph_and_rank(full, builder, ranker)

            t_import, _ = _best(from_codes, args.repeat)
            a, b = Store(grown).read_importance(), Store(full).read_importance()
            same = same and all(np.array_equal(getattr(a, c), getattr(b, c))
                                for c in ("codes", "scores", "counts", "members_indptr",
                                          "members"))
            store_rows.append((label, t_add, t_full, t_import, rep))
            if label.startswith("1 % from all"):
                report = rep
        series = _series(args, base, tmp) if args.series else []
        s = Store(base)
        graph, rank = s.read_graph(), s.read_rank()
        for path in (grown, full):
            path.unlink(missing_ok=True)
        encoded = _encoded(args, builder, ranker, tmp) if args.features_dim else None

    def incremental() -> Any:
        g = grow_graph(graph, new)
        r = rerank_closed(g, rank.node_scores)
        from dhr_sdk.core.types import RankResult
        return build_importance_list(g.graph, RankResult(r.scores, "cpr", 0, True, 0.0))

    def rebuild() -> Any:
        g = builder.build(codes, args.bits)
        return build_importance_list(g, ranker.rank(g))

    m_add, il_add = _best(incremental, args.repeat)
    m_full, il_full = _best(rebuild, args.repeat)
    same = same and all(np.array_equal(getattr(il_add, c), getattr(il_full, c))
                        for c in ("codes", "scores", "counts", "members"))
    rows = []
    for label, t_add, t_full, t_import, _ in store_rows:
        rows.append([f"store, {label}: graph + rank + importance list", f"{t_add:.2f}",
                     f"{t_full:.2f}", f"{t_full / t_add:.1f}×"])
        rows.append([f"store, {label}: also collection + codes", f"{t_add:.2f}",
                     f"{t_import:.2f}", f"{t_import / t_add:.1f}×"])
    if encoded is not None:
        e_add, e_full, e_rep, e_same = encoded
        same = same and e_same
        rows.append([f"image store, 1 % of files, ITQ-{args.bits} on {args.features_dim}-d "
                     "features: dhr add (without the forward) against dhr build --model",
                     f"{e_add:.2f}", f"{e_full:.2f}", f"{e_full / e_add:.1f}×"])
    rows.append(["in memory, 1 % from all clusters (graph, rank, importance list)",
                 f"{m_add:.2f}", f"{m_full:.2f}", f"{m_full / m_add:.1f}×"])
    print()
    print(_table(["", "add 1 % (s)", "rebuild all (s)", "speed-up"], rows))
    print(f"\nAdded {report.images_added:,} codes: {report.new_distinct_codes:,} new distinct "
          f"codes, {report.new_edges:,} new edges, {report.components_reranked:,} of "
          f"{report.components:,} components re-ranked; graph {report.nodes:,} nodes, "
          f"{report.edges:,} edges. Result equal to the rebuild: {'yes' if same else 'NO'}.")
    for label, *_, rep in store_rows:
        print(f"{label}: {rep.new_distinct_codes:,} new distinct codes, {rep.new_edges:,} new "
              f"edges, {rep.components_reranked:,} of {rep.components:,} components re-ranked "
              f"({rep.reranked}).")
    if encoded is not None:
        print(f"image store: {e_rep.nodes:,} nodes, {e_rep.edges:,} edges, "
              f"{e_rep.new_distinct_codes:,} new distinct codes, {e_rep.components_reranked:,} "
              f"of {e_rep.components:,} components re-ranked.")
    if series:
        print()
        print(_table(["add", "seconds", "compacted", "file (MB)", "dead (MB)"],
                     [[str(k + 1), f"{t:.2f}", "yes" if c else "", f"{f / 1e6:.1f}",
                       f"{d / 1e6:.1f}"] for k, (t, c, f, d) in enumerate(series)]))
        mean = sum(t for t, *_ in series) / len(series)
        t_full, t_import = store_rows[0][2], store_rows[0][3]
        print(f"\n{len(series)} successive adds of {args.add:,}: {mean:.2f} s per add with "
              f"{sum(c for _, c, *_ in series)} compaction(s); "
              f"{t_full / mean:.1f}x / {t_import / mean:.1f}x faster than the rebuilds of "
              "the first scenario (graph + rank / import + graph + rank).")
    checks = []
    for label, t_add, t_full, t_import, _ in store_rows:
        checks += [(f"store, {label}, against graph + rank", t_full / t_add),
                   (f"store, {label}, against import-codes + graph + rank", t_import / t_add)]
    if encoded is not None:
        checks.append(("image store, against dhr build --model from cached features",
                       e_full / e_add))
    for label, ratio in [*checks, ("in memory", m_full / m_add)]:
        verdict = "met" if ratio >= args.target else "not met"
        print(f"Target >= {args.target:g}x faster ({label}): {verdict} ({ratio:.1f}x).")


if __name__ == "__main__":
    main()
