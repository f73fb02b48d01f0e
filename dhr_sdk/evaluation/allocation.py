"""Resource allocation scored against ground truth (framework paper sections 6.3-6.4).

Given each candidate collection's true class counts, a requirement's *wanted* images are
those of its classes (a weighted requirement wants each class with its weight). A method
orders the collections; the collected number at top-t is the wanted images in the first
t picks (Tables 4 and 7). Baselines: random selection (averaged over seeded orders) and
retrieval-only (order by the number of matches within the radius, no importance list).

Per requirement and method (definitions in docs/results/assessment-calibration.md):
top-1 hit (the first pick holds the most wanted images; a first place shared by several
collections counts the share of them that do), Spearman(value, true share), and
for a method that estimates the wanted count, the count error ``mean_j |ĉ_j - c_j| /
mean_j c_j`` over the collections ``j`` and the interval coverage (share of collections
with ``low_j <= c_j <= high_j``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class RequirementSpec:
    """A named requirement: class -> weight (weights are shared by the class's images)."""

    name: str
    classes: dict[str, float]


def wanted(counts: Mapping[str, int], spec: RequirementSpec) -> float:
    """Wanted images of a collection: ``sum_c count_c * w_c / max(w)`` (an image of the
    top-weighted class counts 1); with equal weights simply the images of the
    requirement's classes, so the share never exceeds 1 for disjoint classes."""
    top = max(spec.classes.values())
    return float(sum(counts.get(c, 0) * w / top for c, w in spec.classes.items()))


def collected(order: Sequence[int], wanted_counts: np.ndarray, tops: Sequence[int] = (1, 2, 3)
              ) -> list[float]:
    """Wanted images gathered by mining the first t collections of ``order``."""
    return [float(wanted_counts[list(order[:t])].sum()) for t in tops]


def random_orders(n: int, seeds: int = 100) -> list[list[int]]:
    """The seeded random orders of the random-selection baseline (seed ``s`` for order s)."""
    return [[int(i) for i in np.random.default_rng(s).permutation(n)] for s in range(seeds)]


def random_collected(wanted_counts: np.ndarray, seeds: int = 100,
                     tops: Sequence[int] = (1, 2, 3)) -> list[float]:
    """Random selection: mean collected numbers over ``seeds`` seeded random orders."""
    runs = [collected(o, wanted_counts, tops) for o in random_orders(wanted_counts.size, seeds)]
    return [float(x) for x in np.mean(runs, axis=0)]


def spearman(values: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray) -> float:
    """Spearman correlation; 0 when either side is constant (no ranking to compare)."""
    v, t = np.asarray(values, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if v.size < 2 or np.ptp(v) == 0 or np.ptp(t) == 0:
        return 0.0
    from scipy.stats import spearmanr  # scipy.stats costs ~1 s: only when scoring

    return float(spearmanr(v, t).statistic)


def order_by(values: Sequence[float], tiebreak: Sequence[float] | None = None) -> list[int]:
    """Indices sorted by ``values`` descending (then ``tiebreak`` descending, then index)."""
    v = np.asarray(values, dtype=np.float64)
    t = np.zeros_like(v) if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    return [int(i) for i in np.lexsort((np.arange(v.size), -t, -v))]


@dataclass
class CountEstimate:
    """A method's estimated wanted count per collection, with its interval."""

    count: list[float]
    low: list[float]
    high: list[float]


@dataclass
class MethodResult:
    """One method's ranking for one requirement (``estimate``: its wanted counts, when it
    estimates them). The random baseline has no values or order: ``expected_top1`` and
    ``expected_spearman`` are its means over the seeded orders."""

    method: str
    values: list[float]
    order: list[int]
    collected: list[float]
    estimate: CountEstimate | None = None
    expected_top1: float | None = None
    expected_spearman: float | None = None


@dataclass
class RequirementResult:
    """All methods for one requirement, with the truth they are judged against."""

    spec: RequirementSpec
    collections: list[str]
    sizes: list[int]
    wanted: list[float]
    methods: list[MethodResult] = field(default_factory=list)

    @property
    def proportions(self) -> np.ndarray:
        return np.asarray(self.wanted) / np.maximum(np.asarray(self.sizes, dtype=float), 1)

    def method(self, name: str) -> MethodResult:
        return next(m for m in self.methods if m.method == name)

    def to_json(self) -> dict[str, Any]:
        """Everything needed to recompute the metrics (inverse: :meth:`from_json`)."""
        return {"requirement": self.spec.name, "classes": self.spec.classes,
                "kind": self.kind, "collections": self.collections, "sizes": self.sizes,
                "wanted": self.wanted,
                "methods": {m.method: {k: v for k, v in asdict(m).items()
                                       if k != "method" and v is not None}
                            for m in self.methods}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequirementResult:
        res = cls(RequirementSpec(data["requirement"], dict(data["classes"])),
                  list(data["collections"]), list(data["sizes"]), list(data["wanted"]))
        for name, m in data["methods"].items():
            est = m.get("estimate")
            res.methods.append(MethodResult(
                name, list(m["values"]), list(m["order"]), list(m["collected"]),
                CountEstimate(**est) if est else None, m.get("expected_top1"),
                m.get("expected_spearman")))
        return res

    @property
    def kind(self) -> str:
        """``single`` (one class), ``cooccur`` (one ``a+b`` key: images holding both),
        ``weighted`` (unequal weights) or ``multi`` (several
        equally weighted classes, e.g. the zoo)."""
        if len(self.spec.classes) == 1:
            return "cooccur" if "+" in next(iter(self.spec.classes)) else "single"
        return "weighted" if len(set(self.spec.classes.values())) > 1 else "multi"

    def top1_hit(self, name: str) -> bool:
        """The method's first pick holds the most wanted images (ties count as hits)."""
        m = self.method(name)
        if not m.order:
            raise ValueError(f"{name} has no order; use hit_rate")
        w = np.asarray(self.wanted)
        return bool(w[m.order[0]] == w.max())

    def hit_rate(self, name: str) -> float:
        """The top-1 hit as a rate: 1.0/0.0 for a ranked method whose highest value is its
        own; when several collections share the highest value (e.g. nothing matched
        anywhere), the share of them holding the most wanted images (the hit rate of a
        random tie-break). The random baseline: its expected hit rate."""
        m = self.method(name)
        if m.expected_top1 is not None:
            return m.expected_top1
        v = np.asarray(m.values, dtype=np.float64)
        w = np.asarray(self.wanted)
        tied = np.isclose(v, v.max(), rtol=1e-12, atol=0.0)
        return float(np.mean(w[tied] == w.max()))

    def spearman(self, name: str) -> float:
        """Spearman correlation of the method's values with the true wanted proportion
        (the random baseline: its mean over the seeded orders)."""
        m = self.method(name)
        if m.expected_spearman is not None:
            return m.expected_spearman
        return spearman(m.values, self.proportions)

    def count_error(self, name: str) -> float | None:
        """``mean_j |ĉ_j - c_j| / mean_j c_j`` over the collections (None: the method
        estimates no count, or no collection holds a wanted image)."""
        e = self.method(name).estimate
        truth = np.asarray(self.wanted, dtype=np.float64)
        if e is None or truth.sum() <= 0:
            return None
        return float(np.abs(np.asarray(e.count) - truth).sum() / truth.sum())

    def coverage(self, name: str) -> float | None:
        """Share of collections whose true wanted count lies in the method's interval."""
        e = self.method(name).estimate
        if e is None:
            return None
        truth = np.asarray(self.wanted, dtype=np.float64)
        inside = (np.asarray(e.low) <= truth + 1e-9) & (truth - 1e-9 <= np.asarray(e.high))
        return float(inside.mean())


def evaluate(spec: RequirementSpec, collections: Sequence[str], sizes: Sequence[int],
             counts: Sequence[Mapping[str, int]], methods: Mapping[str, Sequence[float]],
             tiebreaks: Mapping[str, Sequence[float]] | None = None,
             random_seeds: int = 100,
             estimates: Mapping[str, CountEstimate | None] | None = None) -> RequirementResult:
    """Score every method's values (higher = mine first) and the random baseline.

    ``estimates`` gives the estimated wanted count (and interval) per collection of the
    methods that estimate one (scored by :meth:`RequirementResult.count_error`)."""
    w = np.array([wanted(c, spec) for c in counts])
    res = RequirementResult(spec, list(collections), list(sizes), w.tolist())
    for name, vals in methods.items():
        order = order_by(vals, (tiebreaks or {}).get(name))
        res.methods.append(MethodResult(name, [float(v) for v in vals], order,
                                        collected(order, w), (estimates or {}).get(name)))
    orders = random_orders(w.size, random_seeds)
    hits = [float(w[o[0]] == w.max()) for o in orders] if w.size else [0.0]
    res.methods.append(MethodResult("random", [], [], random_collected(w, random_seeds),
                                    expected_top1=float(np.mean(hits)),
                                    expected_spearman=_random_spearman(orders,
                                                                       res.proportions)))
    return res


def _random_spearman(orders: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    """Mean Spearman(values, truth) over random orders, a order's values being minus the
    pick position (the first pick gets the highest value); 0 for a constant truth."""
    if truth.size < 2 or np.ptp(truth) == 0 or not orders:
        return 0.0
    from scipy.stats import rankdata

    t = rankdata(truth)
    t = (t - t.mean()) / np.linalg.norm(t - t.mean())
    pos = np.argsort(np.asarray(orders), axis=1).astype(np.float64)  # position of j
    v = -(pos - pos.mean(axis=1, keepdims=True))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return float(np.mean(v @ t))


def mean_metrics(results: Sequence[RequirementResult], name: str) -> dict[str, float | None]:
    """A method's metrics averaged over ``results`` (None where it has no such metric)."""
    def avg(xs: Sequence[float | None]) -> float | None:
        vals = [x for x in xs if x is not None]
        return float(np.mean(vals)) if vals else None

    return {"top1_hit_rate": avg([r.hit_rate(name) for r in results]),
            "mean_spearman": avg([r.spearman(name) for r in results]),
            "count_error": avg([r.count_error(name) for r in results]),
            "coverage": avg([r.coverage(name) for r in results]),
            "requirements": len(results)}
