"""Retrieval metrics of hash codes, as the hashing literature measures them.

All functions take packed codes (see :mod:`dhr_sdk.codes.packing`) of queries and of a database
plus their labels, either class indices ``(n,)`` or multi-hot ``(n, c)``. Conventions
(also in ``docs/evaluation.md``):

Relevance
    A database item is relevant to a query when their label sets share at least one label
    (single-label data: same class). An image without any label is relevant to nothing.
Hamming ranking and ties
    The database is sorted by ascending Hamming distance; items at equal distance keep
    database order (stable sort on the key ``(distance, database index)``). Relevance
    never enters the tie rule. :mod:`dhr_sdk.evaluation.protocol` draws the database in a seeded
    random order, so index order carries no information about the labels.
mAP@K (``k=None``: the full ranking)
    ``AP@K = sum_{i<=K} P(i) rel(i) / R_K`` with ``R_K`` the number of relevant items in
    the top K (the DPSH / HashNet / DeepHash-pytorch normalisation); ``AP@K = 0`` when the
    top K holds no relevant item.
Within Hamming radius r (inclusive, ``d <= r``), as in DCH and the framework paper
    ``P@HD<=r`` = relevant retrieved / retrieved; ``MAP@HD<=r`` = AP of the retrieved list
    in ranking order; ``R@HD<=r`` = relevant retrieved / all relevant. A query that
    retrieves nothing scores 0 precision and 0 AP (codes that scatter are penalised).
Precision-recall by radius
    For every radius ``r = 0..n_bits``, the mean over queries of ``P@HD<=r`` and ``R@HD<=r``.
Precision@k
    Relevant items in the top k of the ranking / k (``k`` capped at the database size).
Queries with no relevant item in the database
    ``no_relevant="zero"`` (default): they stay in every mean and score 0 (DPSH and
    DeepHash-pytorch divide by the number of queries). ``"exclude"``: they are dropped from
    every mean. Either way their number is reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from dhr_sdk.codes.packing import check_packed, hamming_matrix
from dhr_sdk.core.errors import DhrError

NoRelevant = Literal["zero", "exclude"]
DEFAULT_TOPK: tuple[int | None, ...] = (1000, None)
DEFAULT_K_VALUES: tuple[int, ...] = (1, 5, 10, 20, 50, 100, 200, 300, 400, 500, 600, 700,
                                     800, 900, 1000)
_CHUNK_CELLS = 2_000_000  # query x database cells per chunk (~16 MB per float64 array)


def as_multi_hot(labels: ArrayLike, n_classes: int | None = None) -> np.ndarray:
    """Labels as a multi-hot ``(n, c)`` uint8 matrix; class indices ``(n,)`` are one-hot encoded."""
    arr = np.asarray(labels)
    if arr.ndim == 1:
        if arr.size and (arr.min() < 0 or not np.issubdtype(arr.dtype, np.integer)):
            raise DhrError("class-index labels must be non-negative integers")
        c = int(arr.max()) + 1 if arr.size else 0
        c = max(c, n_classes or 0)
        out = np.zeros((arr.shape[0], c), dtype=np.uint8)
        out[np.arange(arr.shape[0]), arr] = 1
        return out
    if arr.ndim != 2:
        raise DhrError(f"labels must be (n,) class indices or (n, c) multi-hot, got {arr.shape}")
    return (arr != 0).astype(np.uint8)


def relevance(query_labels: ArrayLike, database_labels: ArrayLike) -> np.ndarray:
    """Boolean ``(n_query, n_database)``: True where the two label sets intersect."""
    q, db = _aligned_labels(query_labels, database_labels)
    return (q.astype(np.float32) @ db.astype(np.float32).T) > 0


@dataclass
class RetrievalMetrics:
    """All retrieval metrics of one (query codes, database codes) pair; see module docstring."""

    n_bits: int
    n_queries: int
    n_database: int
    n_evaluated: int
    n_no_relevant: int
    no_relevant: str
    map_at: dict[str, float]
    radius: int
    map_radius: float
    precision_radius: float
    recall_radius: float
    radius_hit_rate: float
    pr_radius: np.ndarray
    pr_precision: np.ndarray
    pr_recall: np.ndarray
    k_values: np.ndarray
    precision_at_k: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the ``metrics`` object of ``dhr eval --json``)."""
        return {
            "n_bits": self.n_bits, "n_queries": self.n_queries, "n_database": self.n_database,
            "n_evaluated": self.n_evaluated, "n_no_relevant": self.n_no_relevant,
            "no_relevant": self.no_relevant,
            "map_at": dict(self.map_at), "radius": self.radius, "map_radius": self.map_radius,
            "precision_radius": self.precision_radius, "recall_radius": self.recall_radius,
            "radius_hit_rate": self.radius_hit_rate,
            "pr_curve": {"radius": self.pr_radius.tolist(),
                         "precision": self.pr_precision.tolist(),
                         "recall": self.pr_recall.tolist()},
            "precision_at_k": {"k": self.k_values.tolist(),
                               "precision": self.precision_at_k.tolist()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RetrievalMetrics:
        return cls(
            n_bits=d["n_bits"], n_queries=d["n_queries"], n_database=d["n_database"],
            n_evaluated=d["n_evaluated"], n_no_relevant=d["n_no_relevant"],
            no_relevant=d["no_relevant"], map_at=dict(d["map_at"]), radius=d["radius"],
            map_radius=d["map_radius"], precision_radius=d["precision_radius"],
            recall_radius=d["recall_radius"], radius_hit_rate=d["radius_hit_rate"],
            pr_radius=np.asarray(d["pr_curve"]["radius"]),
            pr_precision=np.asarray(d["pr_curve"]["precision"], dtype=np.float64),
            pr_recall=np.asarray(d["pr_curve"]["recall"], dtype=np.float64),
            k_values=np.asarray(d["precision_at_k"]["k"]),
            precision_at_k=np.asarray(d["precision_at_k"]["precision"], dtype=np.float64))


def topk_key(k: int | None) -> str:
    """Key of ``map_at`` for cut-off ``k``: ``"1000"``, or ``"all"`` for the full ranking."""
    return "all" if k is None else str(int(k))


def evaluate_retrieval(
    query_codes: np.ndarray, database_codes: np.ndarray,
    query_labels: ArrayLike, database_labels: ArrayLike, *,
    topk: Sequence[int | None] = DEFAULT_TOPK, radius: int = 2,
    k_values: Sequence[int] = DEFAULT_K_VALUES, no_relevant: NoRelevant = "zero",
    chunk_size: int | None = None,
) -> RetrievalMetrics:
    """Every metric of the module docstring in one pass over query chunks."""
    if no_relevant not in ("zero", "exclude"):
        raise DhrError(f"no_relevant must be 'zero' or 'exclude', got {no_relevant!r}")
    per = per_query_metrics(query_codes, database_codes, query_labels, database_labels,
                            topk=topk, radius=radius, k_values=k_values, chunk_size=chunk_size)
    n_rel = per["n_relevant"]
    keep = n_rel > 0 if no_relevant == "exclude" else np.ones(n_rel.shape, dtype=bool)
    n_eval = int(keep.sum())

    def mean(a: np.ndarray) -> np.ndarray:
        """Mean over the kept queries (zeros when every query was excluded)."""
        return a[keep].mean(axis=0) if n_eval else np.zeros(a.shape[1:])

    n_bits = per["retrieved"].shape[1] - 1
    retrieved_r = per["retrieved"][:, radius].astype(np.float64)
    return RetrievalMetrics(
        n_bits=n_bits, n_queries=int(n_rel.shape[0]),
        n_database=int(np.asarray(database_codes).shape[0]), n_evaluated=n_eval,
        n_no_relevant=int((n_rel == 0).sum()), no_relevant=no_relevant,
        map_at={topk_key(k): float(mean(per["ap_at"][:, i])) for i, k in enumerate(topk)},
        radius=int(radius), map_radius=float(mean(per["ap_radius"])),
        precision_radius=float(mean(per["pr_precision"][:, radius])),
        recall_radius=float(mean(per["pr_recall"][:, radius])),
        radius_hit_rate=float(mean((retrieved_r > 0).astype(np.float64))),
        pr_radius=np.arange(n_bits + 1), pr_precision=mean(per["pr_precision"]),
        pr_recall=mean(per["pr_recall"]), k_values=per["k_values"],
        precision_at_k=mean(per["precision_at_k"]),
        extra={"mean_retrieved_radius": float(mean(retrieved_r))})


def map_at_k(query_codes: np.ndarray, database_codes: np.ndarray, query_labels: ArrayLike,
             database_labels: ArrayLike, k: int | None = 1000,
             no_relevant: NoRelevant = "zero") -> float:
    """mAP over the top ``k`` of the Hamming ranking (``None``: full ranking)."""
    m = evaluate_retrieval(query_codes, database_codes, query_labels, database_labels,
                           topk=(k,), no_relevant=no_relevant, k_values=(1,))
    return m.map_at[topk_key(k)]


def radius_metrics(query_codes: np.ndarray, database_codes: np.ndarray,
                   query_labels: ArrayLike, database_labels: ArrayLike, radius: int = 2,
                   no_relevant: NoRelevant = "zero") -> tuple[float, float, float]:
    """``(MAP@HD<=radius, P@HD<=radius, R@HD<=radius)``."""
    m = evaluate_retrieval(query_codes, database_codes, query_labels, database_labels,
                           topk=(), radius=radius, k_values=(1,), no_relevant=no_relevant)
    return m.map_radius, m.precision_radius, m.recall_radius


def hamming_ranking(query_codes: np.ndarray,
                    database_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, distances)``: database indices sorted by ``(distance, index)`` (small sets)."""
    dist = hamming_matrix(query_codes, database_codes)
    order = np.argsort(dist, axis=1, kind="stable")
    return order, np.take_along_axis(dist, order, axis=1)


def per_query_metrics(
    query_codes: np.ndarray, database_codes: np.ndarray,
    query_labels: ArrayLike, database_labels: ArrayLike, *,
    topk: Sequence[int | None] = DEFAULT_TOPK, radius: int = 2,
    k_values: Sequence[int] = DEFAULT_K_VALUES, chunk_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Per-query arrays behind :func:`evaluate_retrieval` (before averaging).

    Keys: ``n_relevant`` (q,), ``ap_at`` (q, len(topk)), ``ap_radius`` (q,), ``retrieved``
    and ``relevant_retrieved`` (q, n_bits + 1) cumulative counts by radius, ``pr_precision``
    and ``pr_recall`` (q, n_bits + 1), ``precision_at_k`` (q, len(k_values)), ``k_values``.
    """
    qc = check_packed(query_codes)
    dbc = check_packed(database_codes, qc.shape[1] * 8)
    n_bits = qc.shape[1] * 8
    ql, dbl = _aligned_labels(query_labels, database_labels)
    if ql.shape[0] != qc.shape[0] or dbl.shape[0] != dbc.shape[0]:
        raise DhrError(f"labels ({ql.shape[0]}, {dbl.shape[0]}) do not match codes "
                         f"({qc.shape[0]}, {dbc.shape[0]})")
    n_db = dbc.shape[0]
    if n_db == 0 or qc.shape[0] == 0:
        raise DhrError("retrieval needs at least one query and one database item")
    if not 0 <= radius <= n_bits:
        raise DhrError(f"radius must be in [0, {n_bits}], got {radius}")
    cuts = [n_db if k is None else min(int(k), n_db) for k in topk]
    if any(c < 1 for c in cuts):
        raise DhrError(f"top-k cut-offs must be >= 1, got {list(topk)}")
    ks = np.unique(np.clip(np.asarray(k_values, dtype=np.int64), 1, n_db))
    parts = [_chunk_metrics(qc[s], dbc, ql[s], dbl, cuts, radius, ks, n_bits)
             for s in _chunks(qc.shape[0], chunk_size or max(1, _CHUNK_CELLS // n_db))]
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    out["k_values"] = ks
    return out


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _aligned_labels(query_labels: ArrayLike,
                    database_labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as multi-hot with the same number of columns."""
    q, db = np.asarray(query_labels), np.asarray(database_labels)
    if q.ndim == 1 and db.ndim == 1:
        c = int(max(q.max(initial=-1), db.max(initial=-1))) + 1
        return as_multi_hot(q, c), as_multi_hot(db, c)
    q, db = as_multi_hot(q), as_multi_hot(db)
    if q.shape[1] != db.shape[1]:
        raise DhrError(f"query labels have {q.shape[1]} classes, database {db.shape[1]}")
    return q, db


def _distances(qc: np.ndarray, dbc: np.ndarray) -> np.ndarray:
    """Hamming distances as uint16 (stable sorts of 16-bit keys are radix sorts)."""
    return hamming_matrix(qc, dbc).astype(np.uint16)


def _chunk_metrics(qc: np.ndarray, dbc: np.ndarray, ql: np.ndarray, dbl: np.ndarray,
                   cuts: list[int], radius: int, ks: np.ndarray,
                   n_bits: int) -> dict[str, np.ndarray]:
    b, n_db = qc.shape[0], dbc.shape[0]
    dist = _distances(qc, dbc)
    rel = (ql.astype(np.float32) @ dbl.astype(np.float32).T) > 0
    n_rel = rel.sum(axis=1)
    # Hamming ranking: stable sort keeps database order among equal distances.
    order = np.argsort(dist, axis=1, kind="stable")
    rel_sorted = np.take_along_axis(rel, order, axis=1)
    # Only relevant positions contribute to AP: work on them (row-major, ranks ascending).
    rows_idx, pos = np.nonzero(rel_sorted)
    seg_start = np.concatenate([[0], np.cumsum(n_rel)])
    hits_at = np.arange(pos.size) - seg_start[rows_idx] + 1        # rank among relevant
    terms = np.append(hits_at / (pos + 1.0), 0.0)                 # P(i) at each hit
    key = rows_idx * (n_db + 1) + pos
    rows = np.arange(b)

    def hits_upto(depth: np.ndarray) -> np.ndarray:
        """End (in ``terms``) of the hits among the first ``depth[q]`` ranked items."""
        return np.searchsorted(key, rows * (n_db + 1) + depth)

    def ap_upto(depth: np.ndarray) -> np.ndarray:
        """AP of the first ``depth[q]`` ranked items (0 when empty or without hits)."""
        end = hits_upto(depth)
        h = end - seg_start[:-1]
        bounds = np.empty(2 * b, dtype=np.intp)
        bounds[0::2], bounds[1::2] = seg_start[:-1], end
        sums = np.add.reduceat(terms, bounds)[0::2]  # per-row sums: chunking-independent
        return np.where(h > 0, sums / np.maximum(h, 1), 0.0)

    ap_at = np.stack([ap_upto(np.full(b, c)) for c in cuts], axis=1) if cuts \
        else np.zeros((b, 0))
    p_at_k = np.stack([(hits_upto(np.full(b, k)) - seg_start[:-1]) / k for k in ks], axis=1)
    # Counts per distance value -> cumulative counts within each radius.
    flat = dist.astype(np.int64) + (n_bits + 1) * rows[:, None]
    size = b * (n_bits + 1)
    ret_hist = np.bincount(flat.ravel(), minlength=size).reshape(b, n_bits + 1)
    rel_hist = np.bincount(flat[rel], minlength=size).reshape(b, n_bits + 1)
    retrieved, rel_ret = np.cumsum(ret_hist, axis=1), np.cumsum(rel_hist, axis=1)
    pr_precision = np.divide(rel_ret, retrieved, out=np.zeros(retrieved.shape),
                             where=retrieved > 0)
    pr_recall = np.divide(rel_ret, n_rel[:, None], out=np.zeros(retrieved.shape),
                          where=n_rel[:, None] > 0)
    return {
        "n_relevant": n_rel, "ap_at": ap_at, "ap_radius": ap_upto(retrieved[:, radius]),
        "retrieved": retrieved, "relevant_retrieved": rel_ret,
        "pr_precision": pr_precision, "pr_recall": pr_recall, "precision_at_k": p_at_k,
    }
