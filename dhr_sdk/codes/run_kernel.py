"""Compiled verification of the runs of equal block keys (numba, the ``fast`` extra).

:meth:`HammingIndex.self_pairs <dhr_sdk.codes.hamming_index.HammingIndex.self_pairs>`
compares every pair of codes inside each run of equal block keys of a block's sorted
order. In NumPy that is four passes over each cell of a tile (XOR, popcount, compare, then
the hits' positions), and the pairs that also agree on an earlier block are found and then
dropped. Compiled, it is one loop: XOR and popcount of the pair's words, the radius test,
and for the pairs kept the first-agreeing-block test, with the positions written out
directly. Same pairs, same order within a chunk; the results are identical to the NumPy
path (tests/codes/test_graph_hamming_index.py runs both).

numba is imported only when a graph is large enough to use this (``KERNEL_MIN_CANDIDATES``):
``import numba`` costs ~0.3 s, and the kernel's first compilation a few seconds, cached on
disk afterwards (``cache=True``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import numpy as np

KERNEL_MIN_CANDIDATES = 150_000_000
"""``kernel="auto"`` compiles from this many candidate pairs on (pairs of codes sharing a
block value, summed over the blocks). Below it NumPy's tiles finish in well under a second
and importing numba and loading the cached kernel (~0.35 s here) would eat the gain: at
1M clustered 64-bit codes (56M candidates) NumPy's verification takes 0.97 s and the
kernel's 0.5 s plus that; at 4M (510M candidates), 6.6 s against 3.0 s."""


def available() -> bool:
    """Whether numba is installed (``pip install "dhr-sdk[fast]"``)."""
    return importlib.util.find_spec("numba") is not None


def _segments(starts: np.ndarray, sizes: np.ndarray, budget: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs cut into row segments of at most about ``budget`` cells: segment ``s`` pairs the
    rows ``rows_from[s] <= p < rows_to[s]`` with ``p < q < ends[s]``. Returns those and each
    segment's cell count (an upper bound on its pairs)."""
    keep = sizes >= 2
    starts, sizes = starts[keep].astype(np.int64), sizes[keep].astype(np.int64)
    rows = np.maximum(1, budget // sizes)  # rows per segment
    n_seg = -(-(sizes - 1) // rows)
    run = np.repeat(np.arange(starts.shape[0]), n_seg)
    k = np.arange(run.shape[0]) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
    rows_from = starts[run] + k * rows[run]
    ends = starts[run] + sizes[run]
    rows_to = np.minimum(rows_from + rows[run], ends - 1)
    cells = (rows_to - rows_from) * (ends - rows_from)
    return rows_from, rows_to, ends, cells


def run_pairs(words: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
              masks: np.ndarray, block: int, exact: bool, radius: int, budget: int
              ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Positions ``p < q`` of a block's sorted order in the same run of equal keys, within
    ``radius``, whose first agreeing block is ``block`` (``exact``: one-word keys, so the pair
    agrees on ``block`` itself), with their distances (int16); in chunks of about ``budget``
    cells.

    ``words`` is ``(n, n_words)`` uint64 in the block's sorted order; runs are given by their
    ``starts`` and ``sizes``; ``masks`` are the blocks' masks (see ``block_masks``)."""
    from dhr_sdk.codes.run_kernel_jit import pairs_in_runs

    words = np.ascontiguousarray(words, dtype=np.uint64)
    masks = np.ascontiguousarray(masks, dtype=np.uint64)
    rows_from, rows_to, ends, cells = _segments(starts, sizes, budget)
    if not cells.shape[0]:
        return
    index = np.int32 if words.shape[0] < 2**31 else np.int64
    cum = np.cumsum(cells)
    size = int(min(cum[-1], budget + cells.max()))
    out_p, out_q = np.empty(size, index), np.empty(size, index)
    out_d = np.empty(size, np.int16)
    a = 0
    while a < cells.shape[0]:
        base = cum[a - 1] if a else 0
        b = max(a + 1, int(np.searchsorted(cum, base + budget, side="right")))
        k = pairs_in_runs(words, rows_from[a:b], rows_to[a:b], ends[a:b], radius, masks, block,
                   not exact, out_p, out_q, out_d)
        yield out_p[:k].copy(), out_q[:k].copy(), out_d[:k].copy()
        a = b
