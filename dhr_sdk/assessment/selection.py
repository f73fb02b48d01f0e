"""Spend a labeling budget across collections: how many images to take from each, and which.

Given a requirement and several stores, :func:`select` picks ``budget`` images in total.
Each requirement group (one ``-r`` argument, see :func:`requirement_groups`) gets
``budget × weight`` of them (largest-remainder rounding, so the parts sum to the budget).
For a group, every image of every store is a candidate, ordered by

1. the Hamming distance from its code to the nearest of the group's requirement codes
   under that store's own model,
2. then the higher importance score (``dhr rank``),
3. then store order, then image index;

the group takes the first images of that order that an earlier group has not taken. The
work is per distinct code (importance-list row), in chunks, and only the rows near enough
to fill the group are expanded to images. Stores are only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dhr_sdk.assessment.requirement import Requirement
from dhr_sdk.assessment.targets import StoreTarget, encode_requirement, open_target
from dhr_sdk.codes.packing import hamming_matrix
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.progress import QUIET, Progress

#: Requirement-code × row pairs per distance chunk: ~40 bytes each at 256 bits, so a chunk
#: stays near 100 MB whatever the number of rows or requirement codes.
CHUNK_PAIRS = 2_000_000

@dataclass(frozen=True)
class RequirementGroup:
    """Requirement images that share one slice of the budget: ``images`` index
    ``Requirement.paths`` (and ``codes``); ``weight`` is their total normalised weight."""

    source: str
    weight: float
    images: list[int]


def requirement_groups(requirement: Requirement, per_code: bool = False
                       ) -> list[RequirementGroup]:
    """One group per requirement argument (:meth:`Requirement.groups`), in order.

    ``per_code=True`` makes every requirement image its own group with its own weight: for
    ``--requirement-codes`` with one ``-w`` per code, where the whole file is one argument.
    """
    if per_code:
        return [RequirementGroup(str(p), float(w), [i]) for i, (p, w) in
                enumerate(zip(requirement.paths, requirement.weights, strict=True))]
    return [RequirementGroup(s, w, list(idx)) for s, w, idx in requirement.groups()]


def split_budget(budget: int, weights: Sequence[float]) -> list[int]:
    """``budget × weight`` per part, rounded by largest remainder (ties: earlier part), so
    the parts sum to ``budget``."""
    w = np.asarray(weights, dtype=np.float64)
    exact = budget * w / w.sum()
    parts = np.floor(exact).astype(np.int64)
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:budget - int(parts.sum())]:
        parts[i] += 1
    return [int(p) for p in parts]


@dataclass
class CollectionAllocation:
    """What one store contributes: selected images, how many within τ, largest distance."""

    target: StoreTarget
    n_images: int
    selected: int
    within_radius: int
    max_distance: int | None


@dataclass
class Selection:
    """The selected images in rank order (parallel arrays) and what produced them.

    ``store`` indexes ``targets``; ``image`` indexes that store's image ids; ``row`` is the
    importance-list row; ``distance`` is to the nearest requirement code of ``group``.
    Rank order: distance, then higher score, then group, store and image index.
    """

    requirement: Requirement
    groups: list[RequirementGroup]
    group_budgets: list[int]
    targets: list[StoreTarget]
    budget: int
    radius: int
    max_distance: int | None
    store: np.ndarray
    image: np.ndarray
    row: np.ndarray
    distance: np.ndarray
    score: np.ndarray
    group: np.ndarray

    @property
    def selected(self) -> int:
        return int(self.store.size)

    @property
    def shortfall(self) -> int:
        """Budget left unspent (only with ``max_distance``)."""
        return self.budget - self.selected

    @property
    def beyond_radius(self) -> int:
        """Selected images farther than τ from every requirement image of their group."""
        return int(np.count_nonzero(self.distance > self.radius))

    @property
    def model_ids(self) -> list[str]:
        return list(dict.fromkeys(t.model_id for t in self.targets))

    def allocation(self) -> list[CollectionAllocation]:
        """Per store, in the order given."""
        out = []
        for s, t in enumerate(self.targets):
            d = self.distance[self.store == s]
            out.append(CollectionAllocation(
                t, t.importance.n_images, int(d.size),
                int(np.count_nonzero(d <= self.radius)), int(d.max()) if d.size else None))
        return out

    def group_summary(self) -> list[dict[str, Any]]:
        out = []
        for g, (grp, b) in enumerate(zip(self.groups, self.group_budgets, strict=True)):
            d = self.distance[self.group == g]
            out.append({"source": grp.source, "weight": grp.weight,
                        "requirement_images": len(grp.images), "budget": b,
                        "selected": int(d.size), "shortfall": b - int(d.size),
                        "within_radius": int(np.count_nonzero(d <= self.radius)),
                        "max_distance": int(d.max()) if d.size else None})
        return out

    def image_records(self) -> list[dict[str, Any]]:
        """One dict per selected image, in rank order (the CSV rows, the JSON ``images``)."""
        out = []
        for i in range(self.selected):
            t = self.targets[int(self.store[i])]
            image_id = t.image_ids[int(self.image[i])]
            out.append({"rank": i + 1, "path": str(Path(t.root) / image_id),
                        "collection": t.name, "store": str(t.path), "image_id": image_id,
                        "distance": int(self.distance[i]), "score": float(self.score[i]),
                        "group": self.groups[int(self.group[i])].source,
                        "row": int(self.row[i])})
        return out

    def paths_by_collection(self) -> list[tuple[StoreTarget, list[str]]]:
        """Per store (in order), the absolute paths of its selected images in rank order."""
        lists: list[list[str]] = [[] for _ in self.targets]
        for s, i in zip(self.store.tolist(), self.image.tolist(), strict=True):
            t = self.targets[s]
            lists[s].append(str(Path(t.root) / t.image_ids[i]))
        return list(zip(self.targets, lists, strict=True))

    def warnings(self) -> list[str]:
        """One line per condition: skipped requirement files, images beyond τ, an unspent
        budget, mixed models."""
        out = []
        skipped = self.requirement.skipped
        if skipped:
            named = ", ".join(str(p) for p, _ in skipped[:3])
            more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
            out.append(f"skipped {len(skipped)} unreadable requirement file(s): {named}{more}")
        if self.beyond_radius:
            out.append(f"{self.beyond_radius} of {self.selected} selected images are farther "
                       f"than τ={self.radius} from every requirement image of their group; "
                       "they are less likely to be wanted")
        if self.shortfall:
            short = [f"{g['source']}: {g['selected']} of {g['budget']}"
                     for g in self.group_summary() if g["shortfall"]]
            out.append(f"only {self.selected} of the budget of {self.budget} images are within "
                       f"distance {self.max_distance} of the requirement ({'; '.join(short)})")
        if len(self.model_ids) > 1:
            out.append(f"the stores use {len(self.model_ids)} different models; each store's "
                       "distances are under its own model, so they compare across stores only "
                       "roughly")
        return out

    def to_json(self) -> dict[str, Any]:
        """The ``dhr select --json`` contract (docs/assessment.md)."""
        req = self.requirement
        return {
            "requirement": [{"path": str(p), "weight": float(w), "source": s}
                            for p, w, s in zip(req.paths, req.weights, req.sources, strict=True)],
            "budget": self.budget, "selected": self.selected, "shortfall": self.shortfall,
            "radius": self.radius, "max_distance": self.max_distance,
            "beyond_radius": self.beyond_radius,
            "groups": self.group_summary(),
            "collections": [{"collection": a.target.name, "store": str(a.target.path),
                             "model_id": a.target.model_id, "n_images": a.n_images,
                             "selected": a.selected, "within_radius": a.within_radius,
                             "max_distance": a.max_distance} for a in self.allocation()],
            "images": self.image_records(),
            "warnings": self.warnings(),
        }


def _group_distances(codes: np.ndarray, req: np.ndarray, groups: Sequence[RequirementGroup],
                     chunk_pairs: int = CHUNK_PAIRS) -> np.ndarray:
    """``(n_rows, n_groups)`` uint16: per row, the distance to each group's nearest code."""
    n = codes.shape[0]
    out = np.empty((n, len(groups)), dtype=np.uint16)
    step = max(1, chunk_pairs // max(1, req.shape[0]))
    for lo in range(0, n, step):
        d = hamming_matrix(codes[lo:lo + step], req)
        for g, grp in enumerate(groups):
            out[lo:lo + step, g] = d[:, grp.images].min(axis=1)
    return out


def _expand(indptr: np.ndarray, members: np.ndarray, rows: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """The images behind ``rows`` (CSR members): (row of each image, image index)."""
    starts = indptr[rows].astype(np.int64)
    lens = (indptr[rows + 1] - indptr[rows]).astype(np.int64)
    first = np.cumsum(lens) - lens
    pos = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(first - starts, lens)
    return np.repeat(rows, lens), members[pos].astype(np.int64)


def _check(budget: int, radius: int, max_distance: int | None) -> None:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise DhrError(f"the budget must be a whole number of images, at least 1 (got {budget})")
    if radius < 0:
        raise DhrError(f"the radius τ must be >= 0 (got {radius})")
    if max_distance is not None and max_distance < 0:
        raise DhrError(f"--max-distance must be >= 0 (got {max_distance})")


def _take(dists: Sequence[np.ndarray], targets: Sequence[StoreTarget], g: int, b: int,
          taken: np.ndarray, offsets: np.ndarray, max_distance: int | None
          ) -> tuple[np.ndarray, ...]:
    """Group ``g``'s first ``b`` free images by (distance, -score, store, image); marks them
    in ``taken`` (one flag per image of all stores, store ``s`` from ``offsets[s]``)."""
    top = max(t.importance.n_bits for t in targets)
    hist = np.zeros(top + 1)
    for d, t in zip(dists, targets, strict=True):
        hist += np.bincount(d[:, g], weights=t.importance.counts, minlength=top + 1)
    # the smallest distance whose images fill the group even if all taken ones are among them
    cutoff = min(int(np.searchsorted(np.cumsum(hist), b + int(taken.sum()))), top)
    if max_distance is not None:
        cutoff = min(cutoff, max_distance)
    parts = []
    for s, (d, t) in enumerate(zip(dists, targets, strict=True)):
        il = t.importance
        rows, images = _expand(il.members_indptr, il.members, np.flatnonzero(d[:, g] <= cutoff))
        parts.append((np.full(rows.size, s, dtype=np.int64), images, rows,
                      d[rows, g].astype(np.int64), il.scores[rows].astype(np.float64)))
    st, im, rw, ds, sc = (np.concatenate(c) for c in zip(*parts, strict=True))
    gid = offsets[st] + im
    order = np.lexsort((gid, -sc, ds))
    order = order[~taken[gid[order]]][:b]
    taken[gid[order]] = True
    return (st[order], im[order], rw[order], ds[order], sc[order],
            np.full(order.size, g, dtype=np.int64))


def select(requirement: Requirement, stores: Sequence[str | Path], budget: int, *,
           radius: int = 2, max_distance: int | None = None,
           groups: Sequence[RequirementGroup] | None = None,
           progress: Progress = QUIET) -> Selection:
    """Pick ``budget`` images across ``stores`` for ``requirement`` (see the module doc).

    ``radius`` (τ) only classifies the result (within τ or not); ``max_distance`` caps the
    distance, so fewer than ``budget`` images may be selected (``Selection.shortfall``).
    ``groups`` defaults to :func:`requirement_groups`. Every store is validated, and the
    budget checked against their images, before the requirement is encoded.
    """
    _check(budget, radius, max_distance)
    if not stores:
        raise DhrError("give at least one store to select from")
    targets = [open_target(s, need_model=requirement.codes is None) for s in stores]
    seen: set[Path] = set()
    for t in targets:
        if t.path.resolve() in seen:
            raise DhrError(f"store {t.path} is given twice")
        seen.add(t.path.resolve())
    sizes = np.array([t.importance.n_images for t in targets], dtype=np.int64)
    if budget > sizes.sum():
        raise DhrError(f"the budget of {budget} images is larger than all {int(sizes.sum())} "
                       f"images of the {len(targets)} store(s); lower --budget")
    groups = list(groups) if groups is not None else requirement_groups(requirement)
    budgets = split_budget(budget, [g.weight for g in groups])
    codes_by_model = encode_requirement(requirement, targets, progress)
    dists = [_group_distances(t.importance.codes, codes_by_model[t.model_id], groups)
             for t in progress.iterate(targets, desc="distances", unit="store")]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    taken = np.zeros(int(offsets[-1]), dtype=bool)
    picked = [_take(dists, targets, g, b, taken, offsets, max_distance)
              for g, b in enumerate(budgets) if b > 0]
    st, im, rw, ds, sc, gr = (np.concatenate(c) for c in zip(*picked, strict=True))
    rank = np.lexsort((im, st, gr, -sc, ds))
    return Selection(requirement, groups, budgets, targets, budget, radius, max_distance,
                     st[rank], im[rank], rw[rank], ds[rank], sc[rank], gr[rank])
