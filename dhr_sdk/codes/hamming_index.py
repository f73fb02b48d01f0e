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
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dhr_sdk.codes.packing import check_n_bits, check_packed, to_words
from dhr_sdk.core.errors import DhrError

DEFAULT_CHUNK_PAIRS = 4_000_000
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
    xors = [x[near] for x in xors]

    def agrees(b: int) -> np.ndarray:
        out = np.ones(near.shape[0], dtype=bool)
        for x, mask in zip(xors, masks[b], strict=True):
            if mask:
                out &= (x & mask) == 0
        return out

    keep = agrees(block)
    for earlier in range(block):
        keep &= ~agrees(earlier)
    sel = near[keep]
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

    def __init__(self, codes: np.ndarray, n_bits: int, chunk_pairs: int = DEFAULT_CHUNK_PAIRS):
        check_n_bits(n_bits)
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
        """
        index = np.int32 if len(self) < 2**31 else np.int64
        radius = self._check_radius(radius)
        masks, tables = self._table(radius)
        out_i: list[np.ndarray] = []
        out_j: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        n = len(self)
        for block, (sorted_keys, order) in enumerate(tables):
            if n < 2:
                break
            # position p pairs with the later positions of its run of equal keys
            new_run = np.empty(n, dtype=bool)
            new_run[0] = True
            np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new_run[1:])
            run_start = np.flatnonzero(new_run)
            run_end = np.append(run_start[1:], n)
            run_of = np.cumsum(new_run) - 1
            counts = run_end[run_of] - np.arange(n) - 1
            starts = np.arange(n) + 1
            for a, b in _chunks(counts, self.chunk_pairs):
                rows, pos = _expand(starts[a:b], counts[a:b])
                i = order[rows + a]
                j = order[pos]
                sel, d = _verify(self._cols, i, self._cols, j, masks, block, radius)
                i, j = i[sel], j[sel]
                out_i.append(np.minimum(i, j).astype(index))
                out_j.append(np.maximum(i, j).astype(index))
                out_d.append(d.astype(np.int16))
        ii = np.concatenate(out_i) if out_i else np.zeros(0, index)
        del out_i
        jj = np.concatenate(out_j) if out_j else np.zeros(0, index)
        del out_j
        dd = np.concatenate(out_d) if out_d else np.zeros(0, np.int16)
        del out_d
        sort = np.argsort(ii.astype(np.int64) * max(n, 1) + jj)  # keys are unique
        return ii[sort], jj[sort], dd[sort]


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
