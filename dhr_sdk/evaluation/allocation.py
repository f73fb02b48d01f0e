"""Resource allocation scored against ground truth (framework paper sections 6.3-6.4).

Given each candidate collection's true class counts, a requirement's *wanted* images are
those of its classes (a weighted requirement wants each class with its weight). A method
orders the collections; the collected number at top-t is the wanted images in the first
t picks (Tables 4 and 7). Baselines: random selection (averaged over seeded orders) and
retrieval-only (order by the number of matches within the radius, no importance list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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


def random_collected(wanted_counts: np.ndarray, seeds: int = 100,
                     tops: Sequence[int] = (1, 2, 3)) -> list[float]:
    """Random selection: mean collected numbers over ``seeds`` seeded random orders."""
    runs = [collected(list(np.random.default_rng(s).permutation(wanted_counts.size)),
                      wanted_counts, tops) for s in range(seeds)]
    return [float(x) for x in np.mean(runs, axis=0)]


def order_by(values: Sequence[float], tiebreak: Sequence[float] | None = None) -> list[int]:
    """Indices sorted by ``values`` descending (then ``tiebreak`` descending, then index)."""
    v = np.asarray(values, dtype=np.float64)
    t = np.zeros_like(v) if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    return [int(i) for i in np.lexsort((np.arange(v.size), -t, -v))]


@dataclass
class MethodResult:
    """One method's ranking for one requirement."""

    method: str
    values: list[float]
    order: list[int]
    collected: list[float]


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

    def top1_hit(self, name: str) -> bool:
        """The method's first pick holds the most wanted images (ties count as hits)."""
        w = np.asarray(self.wanted)
        return bool(w[self.method(name).order[0]] == w.max())

    def spearman(self, name: str) -> float:
        """Spearman correlation of the method's values with the true wanted proportion."""
        vals = np.asarray(self.method(name).values)
        if np.ptp(vals) == 0 or np.ptp(self.proportions) == 0:
            return 0.0
        from scipy.stats import spearmanr  # scipy.stats costs ~1 s: only when scoring

        return float(spearmanr(vals, self.proportions).statistic)


def evaluate(spec: RequirementSpec, collections: Sequence[str], sizes: Sequence[int],
             counts: Sequence[Mapping[str, int]], methods: Mapping[str, Sequence[float]],
             tiebreaks: Mapping[str, Sequence[float]] | None = None,
             random_seeds: int = 100) -> RequirementResult:
    """Score every method's values (higher = mine first) and the random baseline."""
    w = np.array([wanted(c, spec) for c in counts])
    res = RequirementResult(spec, list(collections), list(sizes), w.tolist())
    for name, vals in methods.items():
        order = order_by(vals, (tiebreaks or {}).get(name))
        res.methods.append(MethodResult(name, [float(v) for v in vals], order,
                                        collected(order, w)))
    res.methods.append(MethodResult("random", [], [], random_collected(w, random_seeds)))
    return res
