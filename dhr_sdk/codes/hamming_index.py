"""Exact Hamming radius search by multi-index hashing (pigeonhole on code blocks).

Split the ``n_bits`` bit positions into ``radius + 1`` contiguous blocks. Two codes at
Hamming distance ``d <= radius`` differ in at most ``radius`` blocks, so they agree exactly
on at least one block (pigeonhole). Per block the indexed codes are sorted by the block's
bits; candidates are codes sharing a block value with the query, every candidate is
verified with a full popcount, and a pair is kept only in the *first* block on which it
agrees, so each result appears once. The search is exact (identical to brute force) and
the radius is inclusive (``d <= radius``), unlike FAISS ``range_search`` (``d < radius``).

Work is done in chunks of at most ``chunk_pairs`` candidate pairs, so memory stays bounded
whatever the number of codes; the cost grows with the number of candidates (codes sharing a
block), which is small for radii well below ``n_bits / 2`` (the paper's regime, Eq. 10).
On clustered codes almost all candidates sit in a few long runs of equal block values (the
clusters' cores): :meth:`HammingIndex.self_pairs` verifies those as dense XOR + popcount
tiles over the run's contiguous codes instead of expanded index pairs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from dhr_sdk.codes import run_kernel
from dhr_sdk.codes.packing import check_n_bits, check_packed, to_words
from dhr_sdk.core.errors import DhrError

DEFAULT_CHUNK_PAIRS = 4_000_000
KERNELS = ("auto", "numba", "numpy")
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                 0xD6E8FEB86659FD93], dtype=np.uint64)


def block_masks(n_bits: int, n_blocks: int) -> np.ndarray:
    """``(n_blocks, n_words)`` uint64 masks of ``n_blocks`` contiguous bit ranges.

    Masks are laid out like :func:`dhr_sdk.codes.packing.to_words` lays out codes. ``n_blocks=0``
    gives one empty mask (every code agrees on it: brute force).
    """
    if n_blocks == 0:
        return np.zeros((1, to_words(np.zeros((1, n_bits // 8), np.uint8)).shape[1]), np.uint64)
    edges = np.linspace(0, n_bits, n_blocks + 1).round().astype(int)
    bits = np.zeros((n_blocks, n_bits), dtype=np.uint8)
    for b in range(n_blocks):
        bits[b, edges[b]:edges[b + 1]] = 1
    return to_words(np.packbits(bits, axis=1))


def _expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and ``starts[row] + k`` for ``k < counts[row]``, flattened."""
    rows = np.repeat(np.arange(counts.shape[0]), counts)
    shift = starts - (np.cumsum(counts) - counts)
    return rows, np.arange(rows.shape[0]) + shift[rows]


def _first_block(xors: list[np.ndarray], masks: np.ndarray, block: int,
                 exact: bool) -> np.ndarray:
    """Which pairs (given by their XOR words) agree on ``block`` and on no earlier block:
    each pair is reported once, in its first agreeing block. ``exact``: keys are the
    block's bits, so agreement on ``block`` itself needs no check (multi-word keys are
    hashes)."""
    keep = np.ones(xors[0].shape[0], dtype=bool)

    def agrees(b: int) -> np.ndarray:
        out = np.ones(keep.shape[0], dtype=bool)
        for x, mask in zip(xors, masks[b], strict=True):
            if mask:
                out &= (x & mask) == 0
        return out

    if not exact:
        keep &= agrees(block)
    for earlier in range(block):
        keep &= ~agrees(earlier)
    return keep


def _verify(a_cols: list[np.ndarray], ai: np.ndarray, b_cols: list[np.ndarray],
            bi: np.ndarray, masks: np.ndarray, block: int,
            radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates ``(a[ai], b[bi])`` within ``radius`` whose first agreeing block is
    ``block``: their positions in the candidate arrays and their distances.

    Codes are given as lists of uint64 word columns (one 1-D array per word)."""
    xors = [a[ai] ^ b[bi] for a, b in zip(a_cols, b_cols, strict=True)]
    dist = np.bitwise_count(xors[0]).astype(np.int16)
    for x in xors[1:]:
        dist += np.bitwise_count(x)
    near = np.flatnonzero(dist <= radius)
    sel = near[_first_block([x[near] for x in xors], masks, block, exact=False)]
    return sel, dist[sel].astype(np.int64)


def _chunks(counts: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive ranges ``[a, b)`` of rows whose ``counts`` sum to about ``budget``."""
    cum = np.cumsum(counts, dtype=np.int64)
    a, n = 0, counts.shape[0]
    while a < n:
        base = cum[a - 1] if a else 0
        b = int(np.searchsorted(cum, base + budget, side="right"))
        b = max(b, a + 1)
        yield a, min(b, n)
        a = b


class HammingIndex:
    """Exact, inclusive radius search over a fixed set of packed codes.

    ``codes`` is packed ``uint8`` ``(n, n_bits // 8)`` (see :mod:`dhr_sdk.codes.packing`); ids in
    results are row indices into it. Duplicated codes are allowed (each row is reported).
    """

    def __init__(self, codes: np.ndarray, n_bits: int, chunk_pairs: int = DEFAULT_CHUNK_PAIRS,
                 kernel: str = "auto"):
        """``kernel``: how :meth:`self_pairs` verifies runs of equal block keys: ``"numba"``
        (compiled, :mod:`dhr_sdk.codes.run_kernel`; the ``fast`` extra), ``"numpy"``, or
        ``"auto"`` (numba when installed and the codes sharing block values make at least
        ``KERNEL_MIN_CANDIDATES`` pairs to verify).
        Both give the same pairs."""
        if kernel not in KERNELS:
            raise DhrError(f"unknown Hamming kernel {kernel!r}; choose one of "
                           f"{', '.join(KERNELS)}")
        if kernel == "numba" and not run_kernel.available():
            raise DhrError("the numba kernel needs numba: pip install \"dhr-sdk[fast]\"")
        check_n_bits(n_bits)
        self.kernel = kernel
        self.n_bits = n_bits
        self.codes = check_packed(codes, n_bits)
        self.words = to_words(self.codes)
        self._cols = [np.ascontiguousarray(self.words[:, k]) for k in range(self.words.shape[1])]
        self.chunk_pairs = max(int(chunk_pairs), 1)
        self._tables: dict[int, tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = {}

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    # -- block tables ---------------------------------------------------------------------
    def _keys(self, words: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """A 64-bit key of each code's block. Exact for one-word codes; a hash otherwise
        (collisions only add candidates, which the verification removes)."""
        masked = words & mask
        key = masked[:, 0].copy()
        for w in range(1, masked.shape[1]):
            key ^= masked[:, w] * _MIX[w]
            key = (key << np.uint64(7)) | (key >> np.uint64(57))
        return key

    def _table(self, radius: int) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Masks and, per block, (sorted keys, order) for ``radius``."""
        n_blocks = radius + 1 if radius < self.n_bits else 0
        if n_blocks not in self._tables:
            masks = block_masks(self.n_bits, n_blocks)
            tables = []
            for mask in masks:
                keys = self._keys(self.words, mask)
                order = np.argsort(keys, kind="stable")
                tables.append((keys[order], order))
            self._tables[n_blocks] = (masks, tables)
        return self._tables[n_blocks]

    @staticmethod
    def _check_radius(radius: int) -> int:
        if int(radius) != radius or radius < 0:
            raise DhrError(f"Hamming radius must be a non-negative integer, got {radius}")
        return int(radius)

    # -- queries --------------------------------------------------------------------------
    def radius_search(self, queries: np.ndarray, radius: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All indexed codes within Hamming distance ``<= radius`` of each query.

        Returns ``(lims, ids, dists)`` like FAISS: the matches of query ``q`` are
        ``ids[lims[q]:lims[q + 1]]`` at distances ``dists[...]``, sorted by id.
        """
        radius = self._check_radius(radius)
        q_words = to_words(check_packed(queries, self.n_bits))
        q_cols = [np.ascontiguousarray(q_words[:, k]) for k in range(q_words.shape[1])]
        n_q = q_words.shape[0]
        masks, tables = self._table(radius)
        out_q: list[np.ndarray] = []
        out_id: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        for block, (sorted_keys, order) in enumerate(tables):
            q_keys = self._keys(q_words, masks[block])
            lo = np.searchsorted(sorted_keys, q_keys, side="left")
            hi = np.searchsorted(sorted_keys, q_keys, side="right")
            counts = hi - lo
            for a, b in _chunks(counts, self.chunk_pairs):
                rows, pos = _expand(lo[a:b], counts[a:b])
                qi = rows + a
                ids = order[pos]
                sel, d = _verify(q_cols, qi, self._cols, ids, masks, block, radius)
                out_q.append(qi[sel])
                out_id.append(ids[sel])
                out_d.append(d)
        qs = np.concatenate(out_q) if out_q else np.zeros(0, np.int64)
        ids_all = np.concatenate(out_id) if out_id else np.zeros(0, np.int64)
        ds = np.concatenate(out_d) if out_d else np.zeros(0, np.int64)
        sort = np.argsort(qs * max(len(self), 1) + ids_all)  # keys are unique
        lims = np.zeros(n_q + 1, dtype=np.int64)
        np.cumsum(np.bincount(qs, minlength=n_q), out=lims[1:])
        return lims, ids_all[sort].astype(np.int64), ds[sort].astype(np.int64)

    def self_pairs(self, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs ``i < j`` of indexed codes with distance ``<= radius``: ``(i, j, d)``.

        The pairs come sorted by ``(i, j)``. This is the edge list of the Hamming graph
        (Eq. 10) without materialising an ``n x n`` matrix. Indices are int32 when ``n``
        fits (int64 otherwise) and distances int16: at 10M codes the edge list is the peak
        of the graph build, and narrow types keep it at 10 bytes per pair, not 24.

        Per block, the codes are first copied into the block's sorted order, so that the
        codes sharing a block value are contiguous and verification reads local memory;
        runs of at least ``TILE_MIN_RUN`` equal keys (the dense cores of clusters, where
        almost all candidates are) are verified as dense XOR + popcount tiles, shorter runs
        as expanded position pairs. Positions become row ids only for the kept pairs.
        """
        index = np.int32 if len(self) < 2**31 else np.int64
        radius = self._check_radius(radius)
        masks, tables = self._table(radius)
        exact = self.words.shape[1] == 1  # one-word keys are the block's bits, not a hash
        out_i: list[np.ndarray] = []
        out_j: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        n = len(self)
        compiled = self.kernel == "numba" or (
            self.kernel == "auto"
            and _candidates(tables) >= run_kernel.KERNEL_MIN_CANDIDATES
            and run_kernel.available())
        for block, (sorted_keys, order) in enumerate(tables):
            if n < 2:
                break
            if compiled:
                words = np.take(self.words, order, axis=0)  # this block's order
                starts, sizes = _runs(sorted_keys)
                for p, q, d in run_kernel.run_pairs(words, starts, sizes, masks, block, exact,
                                                    radius, self.chunk_pairs):
                    i, j = order[p], order[q]
                    out_i.append(np.minimum(i, j).astype(index))
                    out_j.append(np.maximum(i, j).astype(index))
                    out_d.append(d)
                del words
                continue
            cols = [c[order] for c in self._cols]  # this block's order: runs are contiguous
            check = block > 0 or not exact
            for p, q, xors, d in self._run_pairs(cols, sorted_keys, radius):
                if check:
                    keep = _first_block(xors, masks, block, exact)
                    p, q, d = p[keep], q[keep], d[keep]
                i, j = order[p], order[q]
                out_i.append(np.minimum(i, j).astype(index))
                out_j.append(np.maximum(i, j).astype(index))
                out_d.append(d.astype(np.int16))
            del cols
        return _sorted_pairs(out_i, out_j, out_d, n, index)

    def _run_pairs(self, cols: list[np.ndarray], sorted_keys: np.ndarray, radius: int
                   ) -> Iterator[_Pairs]:
        """Positions ``p < q`` in one block's sorted order, in the same run of equal keys and
        within ``radius``, with their XOR words and distances; in chunks of about
        ``chunk_pairs`` candidates."""
        n = sorted_keys.shape[0]
        starts, sizes = _runs(sorted_keys)
        tiled = sizes >= TILE_MIN_RUN
        run_of = np.repeat(np.arange(starts.shape[0]), sizes)
        counts = (starts + sizes)[run_of] - np.arange(n) - 1  # later positions of the run
        counts[tiled[run_of]] = 0
        del run_of
        for a, b in _chunks(counts, self.chunk_pairs):
            rows, pos = _expand(np.arange(a + 1, b + 1), counts[a:b])
            rows += a
            xors, dist = _compare(cols, rows, pos)
            near = np.flatnonzero(dist <= radius)
            yield rows[near], pos[near], [x[near] for x in xors], dist[near]
        tiles = _Tiles(cols, radius, self.n_bits, min(self.chunk_pairs, TILE_CELLS))
        cells = 0
        for start, size in zip(starts[tiled].tolist(), sizes[tiled].tolist(), strict=True):
            tiles.add(start, start + size)
            cells += size * size // 2
            if cells >= self.chunk_pairs:
                p, q = tiles.take()
                yield p, q, *_compare(cols, p, q)
                cells = 0
        if cells:
            p, q = tiles.take()
            yield p, q, *_compare(cols, p, q)


_Pairs = tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]
"""Positions ``p``, ``q`` in a block's sorted order, their XOR words and distances."""

TILE_MIN_RUN = 48
"""Runs of equal block keys at least this long are verified as dense tiles (below it, the
per-tile overhead of NumPy calls outweighs the expanded pairs' cost per candidate)."""
TILE_ROWS = 64
"""Rows of a run per tile step: more rows compute more of the unwanted lower triangle,
fewer make more NumPy calls."""
TILE_CELLS = 1 << 18
"""At most this many cells per tile step (2 MB of XOR words: cache-resident)."""


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal values in ``sorted_keys`` (non-empty)."""
    n = sorted_keys.shape[0]
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run)
    return starts, np.diff(np.append(starts, n))


def _candidates(tables: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """Pairs of codes sharing a block value, summed over the blocks: what verification
    costs."""
    total = 0
    for sorted_keys, _ in tables:
        if sorted_keys.shape[0] > 1:
            sizes = _runs(sorted_keys)[1].astype(np.int64)
            total += int((sizes * (sizes - 1) // 2).sum())
    return total


def _compare(cols: list[np.ndarray], p: np.ndarray, q: np.ndarray
             ) -> tuple[list[np.ndarray], np.ndarray]:
    """XOR words and Hamming distances (int16) of the codes at positions ``p`` and ``q``."""
    xors = [c[p] ^ c[q] for c in cols]
    dist = np.bitwise_count(xors[0]).astype(np.int16)
    for x in xors[1:]:
        dist += np.bitwise_count(x)
    return xors, dist


class _Tiles:
    """Dense verification of long runs: XOR + popcount of a few rows of a run at a time
    against the run's codes from the first of those rows on, in reused buffers. Each step
    only records where its hits are; :meth:`take` turns them into positions for all steps
    at once (few NumPy calls per step)."""

    def __init__(self, cols: list[np.ndarray], radius: int, n_bits: int, cells: int):
        self.cols, self.radius, self.cells = cols, radius, cells
        self.xor = np.empty(cells, np.uint64)
        self.dist = np.empty(cells, np.uint8 if n_bits < 256 else np.uint16)
        self.count = np.empty(cells, np.uint8)
        self.ok = np.empty(cells, bool)
        self.hits: list[np.ndarray] = []
        self.steps: list[tuple[int, int, int]] = []  # (first row, width, hits) per step

    def add(self, a: int, b: int) -> None:
        """Find the pairs ``a <= p < q < b`` within the radius (kept until :meth:`take`:
        the caller takes them every ``chunk_pairs`` cells' worth of runs, so what is held
        is about the hits of that many cells plus one run's)."""
        size = b - a
        step = max(1, min(size, self.cells // size, TILE_ROWS))
        for r0 in range(a, b - 1, step):
            r1 = min(r0 + step, b - 1)
            k, w = r1 - r0, b - r0
            dist = self.dist[:k * w].reshape(k, w)
            x = self.xor[:k * w].reshape(k, w)
            for n_word, c in enumerate(self.cols):
                np.bitwise_xor(c[None, r0:b], c[r0:r1, None], out=x)  # this order is faster
                if n_word == 0:
                    np.bitwise_count(x, out=dist)
                else:
                    dist += np.bitwise_count(x, out=self.count[:k * w].reshape(k, w))
            hits = np.flatnonzero(np.less_equal(dist, self.radius,
                                                out=self.ok[:k * w].reshape(k, w)))
            self.hits.append(hits)
            self.steps.append((r0, w, hits.shape[0]))

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``p < q`` of the hits so far (the square's lower half and diagonal,
        computed with it, dropped), and forget them."""
        if not self.hits:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        r0, w, counts = (np.array(v, dtype=np.int64) for v in zip(*self.steps, strict=True))
        row, col = np.divmod(np.concatenate(self.hits), np.repeat(w, counts))
        self.hits, self.steps = [], []
        later = np.flatnonzero(col > row)
        first = np.repeat(r0, counts)[later]
        return row[later] + first, col[later] + first


def _sorted_pairs(out_i: list[np.ndarray], out_j: list[np.ndarray], out_d: list[np.ndarray],
                  n: int, index: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate pair chunks (freeing them) and sort by ``(i, j)``: a counting sort by
    row and a sort within each row (SciPy's COO to CSR), O(pairs) instead of an argsort."""
    if not out_i:
        return np.zeros(0, index), np.zeros(0, index), np.zeros(0, np.int16)
    ii = np.concatenate(out_i)
    out_i.clear()
    jj = np.concatenate(out_j)
    out_j.clear()
    dd = np.concatenate(out_d)
    out_d.clear()
    csr = sp.csr_matrix((dd, (ii, jj)), shape=(n, n))  # pairs are unique: nothing summed
    del ii, jj, dd
    rows: np.ndarray = np.repeat(np.arange(n, dtype=index), np.diff(csr.indptr))
    return rows, csr.indices.astype(index, copy=False), csr.data.astype(np.int16, copy=False)


def group_identical(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct codes, each row's group, and group sizes (like ``np.unique(axis=0)``).

    Distinct codes come sorted by code bytes ascending, the order of
    ``np.unique(codes, axis=0)``, but computed with a word sort (fast at millions of rows).
    Returns ``(distinct, inverse, counts)`` with ``distinct[inverse] == codes``.
    """
    codes = check_packed(codes)
    n, n_bytes = codes.shape
    if n == 0:
        return codes.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64)
    pad = (-n_bytes) % 8
    padded = np.concatenate([codes, np.zeros((n, pad), np.uint8)], axis=1) if pad else codes
    big = np.ascontiguousarray(padded).view(">u8").astype(np.uint64)  # byte order = numeric
    # stable sorts, first word most significant (argsort: radix sort for one word)
    order = (np.argsort(big[:, 0], kind="stable") if big.shape[1] == 1
             else np.lexsort(big.T[::-1]))
    ordered = big[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    group = np.cumsum(new) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = group
    return codes[order[new]], inverse, np.bincount(group).astype(np.int64)
