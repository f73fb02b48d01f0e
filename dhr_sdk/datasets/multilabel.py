"""Multi-label images composed from real single-label tiles, with controlled co-occurrence.

No real multi-label set is available offline, so, like VOC/COCO scenes that hold several
objects, a canvas is a ``grid × grid`` board of real tiles (empty cells stay black) and its
labels are the set of classes present. Co-occurrence is controlled the way VOC's
person+car is observed: with ``cooccur=(A, B)``, B is present in a fraction ``p_cooccur``
of the canvases that contain A, and in a fraction ``p_alone`` of the others (exactly, in
expectation: B is never drawn by chance, only placed by this rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dhr_sdk.core.errors import DhrError


class _TilePools:
    """Per-class tile indices, shuffled and cycled so tiles are reused as little as possible."""

    def __init__(self, class_index: np.ndarray, pool: np.ndarray, n_classes: int,
                 rng: np.random.Generator) -> None:
        self.pools = [rng.permutation(pool[class_index[pool] == c]) for c in range(n_classes)]
        self.next = [0] * n_classes

    def take(self, c: int) -> int:
        p = self.pools[c]
        if p.size == 0:
            raise DhrError(f"no tile of class {c} available for the multi-label canvases")
        i = int(p[self.next[c] % p.size])
        self.next[c] += 1
        return i


def _check(grid: int, min_objects: int, max_objects: int, p_cooccur: float,
           p_alone: float) -> None:
    if grid < 1:
        raise DhrError("grid must be at least 1")
    if not 1 <= min_objects <= max_objects <= grid * grid:
        raise DhrError(f"need 1 <= min_objects <= max_objects <= grid*grid ({grid * grid}); "
                       f"got {min_objects}..{max_objects}")
    if not (0.0 <= p_cooccur <= 1.0 and 0.0 <= p_alone <= 1.0):
        raise DhrError("p_cooccur and p_alone must lie in [0, 1]")


def _add_b(classes: list[int], cells: list[int], free: list[int], a: int, b: int,
           rng: np.random.Generator) -> None:
    """Put class ``b`` on the canvas: in a free cell, else over a tile that is not the last A."""
    if free:
        cells.append(free.pop(0))
        classes.append(b)
        return
    not_a = [i for i, c in enumerate(classes) if c != a]
    if not not_a:  # a full board of A (>= 2 of them, or grid == 1 which was excluded)
        not_a = [i for i, c in enumerate(classes) if c == a][1:]
    classes[not_a[int(rng.integers(len(not_a)))]] = b


def compose_multilabel(images: np.ndarray, class_index: np.ndarray,
                       class_names: Sequence[str], *, n: int, grid: int = 2,
                       min_objects: int = 1, max_objects: int = 3,
                       cooccur: Sequence[str] | None = None, p_cooccur: float = 0.7,
                       p_alone: float = 0.1, seed: int = 0,
                       pool: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` canvases of ``grid × grid`` tiles taken from ``images[pool]``.

    Returns ``(canvases, labels)``: uint8 (n, grid*h, grid*w[, 3]) and multi-hot uint8
    (n, n_classes). Each canvas holds ``min_objects..max_objects`` tiles (uniform) in random
    cells with uniformly drawn classes (repeats allowed; labels are the set).
    """
    _check(grid, min_objects, max_objects, p_cooccur, p_alone)
    names = list(class_names)
    n_classes = len(names)
    rng = np.random.default_rng(seed)
    idx = np.asarray(class_index, dtype=np.int64)
    pools = _TilePools(idx, np.arange(len(idx)) if pool is None else np.asarray(pool),
                       n_classes, rng)
    a = b = -1
    if cooccur is not None:
        unknown = [c for c in cooccur if c not in names]
        if len(cooccur) != 2 or unknown or cooccur[0] == cooccur[1]:
            raise DhrError(f"cooccur must be two different class names of {names}")
        a, b = names.index(cooccur[0]), names.index(cooccur[1])
    drawable = np.array([c for c in range(n_classes) if c != b])
    h, w = images.shape[1:3]
    canvases = np.zeros((n, grid * h, grid * w, *images.shape[3:]), dtype=np.uint8)
    labels = np.zeros((n, n_classes), dtype=np.uint8)
    for i in range(n):
        k = int(rng.integers(min_objects, max_objects + 1))
        order = [int(c) for c in rng.permutation(grid * grid)]
        cells, free = order[:k], order[k:]
        classes = [int(c) for c in rng.choice(drawable, size=k)]
        if b >= 0 and rng.random() < (p_cooccur if a in classes else p_alone):
            _add_b(classes, cells, free, a, b, rng)
        for cell, c in zip(cells, classes, strict=True):
            r, q = divmod(cell, grid)
            canvases[i, r * h:(r + 1) * h, q * w:(q + 1) * w] = images[pools.take(c)]
            labels[i, c] = 1
    return canvases, labels
