"""dhr_sdk.codes.hamming_index: exact inclusive radius search against brute force and FAISS."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dhr_sdk.codes import hamming_index
from dhr_sdk.codes.hamming_index import HammingIndex, block_masks
from dhr_sdk.codes.packing import hamming_matrix, pack_bits
from dhr_sdk.core.errors import DhrError
from dhr_sdk.testing import clustered_codes

CASES = [(nb, r) for nb in (8, 16, 40, 64, 72, 128, 256) for r in (0, 1, 2, 4)]


def _random_or_clustered(n: int, n_bits: int, seed: int, clustered: bool) -> np.ndarray:
    if clustered:
        return clustered_codes(n, n_bits, 12, 0.04, seed=seed)
    rng = np.random.default_rng(seed)
    return pack_bits(rng.integers(0, 2, size=(n, n_bits)))


@pytest.mark.parametrize("clustered", [True, False])
@pytest.mark.parametrize(("n_bits", "radius"), CASES)
def test_radius_search_equals_brute_force(n_bits: int, radius: int, clustered: bool) -> None:
    codes = _random_or_clustered(250, n_bits, n_bits + radius, clustered)
    queries = np.concatenate([_random_or_clustered(40, n_bits, 7, clustered), codes[:5]])
    index = HammingIndex(codes, n_bits, chunk_pairs=997)  # small chunks: exercise chunking
    lims, ids, dists = index.radius_search(queries, radius)
    full = hamming_matrix(queries, codes)
    assert lims[0] == 0 and lims[-1] == ids.size == dists.size
    for q in range(queries.shape[0]):
        expected = np.flatnonzero(full[q] <= radius)
        np.testing.assert_array_equal(ids[lims[q]:lims[q + 1]], expected)
        np.testing.assert_array_equal(dists[lims[q]:lims[q + 1]], full[q, expected])


@pytest.mark.parametrize("clustered", [True, False])
@pytest.mark.parametrize(("n_bits", "radius"), CASES)
def test_self_pairs_equal_brute_force(n_bits: int, radius: int, clustered: bool) -> None:
    codes = _random_or_clustered(300, n_bits, 3 * n_bits + radius, clustered)
    i, j, d = HammingIndex(codes, n_bits, chunk_pairs=1013).self_pairs(radius)
    full = hamming_matrix(codes, codes)
    ei, ej = np.nonzero(np.triu(full <= radius, k=1))
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(j, ej)
    np.testing.assert_array_equal(d, full[ei, ej])


def test_radius_at_least_code_length_connects_everything() -> None:
    codes = _random_or_clustered(30, 8, 1, False)
    lims, _, _ = HammingIndex(codes, 8).radius_search(codes[:3], 8)
    assert np.all(np.diff(lims) == 30)
    i, _, _ = HammingIndex(codes, 8).self_pairs(9)
    assert i.size == 30 * 29 // 2


def test_radius_is_inclusive_and_duplicates_reported() -> None:
    bits = np.zeros((4, 16), dtype=np.uint8)
    bits[2, :2] = 1  # distance 2 from rows 0, 1, 3
    bits[3, :3] = 1  # distance 3 from rows 0, 1
    codes = pack_bits(bits)
    _, ids, dists = HammingIndex(codes, 16).radius_search(codes[:1], 2)
    assert ids.tolist() == [0, 1, 2] and dists.tolist() == [0, 0, 2]


def test_empty_inputs_and_bad_radius() -> None:
    codes = _random_or_clustered(10, 16, 0, False)
    index = HammingIndex(codes, 16)
    lims, ids, _ = index.radius_search(codes[:0], 2)
    assert lims.tolist() == [0] and ids.size == 0
    i, _, _ = HammingIndex(codes[:1], 16).self_pairs(2)
    assert i.size == 0
    with pytest.raises(DhrError):
        index.radius_search(codes, -1)
    with pytest.raises(DhrError):
        index.radius_search(_random_or_clustered(3, 24, 0, False), 1)


def test_block_masks_partition_the_bits() -> None:
    masks = block_masks(72, 5)
    assert np.all(np.bitwise_count(masks).sum(axis=1) >= 14)
    total = np.bitwise_or.reduce(masks, axis=0)
    assert int(np.bitwise_count(total).sum()) == 72
    assert int(np.bitwise_count(masks).sum()) == 72


@pytest.mark.parametrize(("n_bits", "radius"), [(32, 2), (64, 3), (128, 1)])
def test_radius_search_equals_faiss(n_bits: int, radius: int) -> None:
    faiss = pytest.importorskip("faiss")
    codes = clustered_codes(400, n_bits, 10, 0.03, seed=radius)
    queries = clustered_codes(60, n_bits, 10, 0.03, seed=radius)
    flat = faiss.IndexBinaryFlat(n_bits)
    flat.add(codes)
    f_lims, f_d, f_ids = flat.range_search(queries, radius + 1)  # FAISS radius is strict
    lims, ids, dists = HammingIndex(codes, n_bits).radius_search(queries, radius)
    np.testing.assert_array_equal(lims, f_lims)
    for q in range(queries.shape[0]):
        order = np.argsort(f_ids[f_lims[q]:f_lims[q + 1]])
        np.testing.assert_array_equal(ids[lims[q]:lims[q + 1]],
                                      f_ids[f_lims[q]:f_lims[q + 1]][order])
        np.testing.assert_array_equal(dists[lims[q]:lims[q + 1]],
                                      f_d[f_lims[q]:f_lims[q + 1]][order])


@pytest.mark.parametrize("tile_min_run", [2, 48, 10**9])  # all tiles / default / no tiles
@pytest.mark.parametrize("kind", ["clustered", "random", "duplicates"])
@pytest.mark.parametrize("n_bits", [32, 64, 128])
@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_self_pairs_tiles_and_expanded_pairs_equal_brute_force(
        monkeypatch: pytest.MonkeyPatch, tile_min_run: int, kind: str, n_bits: int,
        radius: int) -> None:
    """Both verification paths (dense tiles over long runs, expanded pairs over short
    ones) and their mix give brute force's pairs, order and dtypes; tiles of a few cells
    per step exercise the row blocks and the dropped lower half of each leading square."""
    monkeypatch.setattr(hamming_index, "TILE_MIN_RUN", tile_min_run)
    monkeypatch.setattr(hamming_index, "TILE_CELLS", 300)
    seed = n_bits + 10 * radius
    if kind == "duplicates":  # many exact copies: distance-0 pairs inside long runs
        base = clustered_codes(60, n_bits, 3, 1.5 / n_bits, seed=seed)
        codes = base[np.random.default_rng(seed).integers(0, 60, size=400)]
    elif kind == "clustered":  # about 1.5 flipped bits per code: pairs at every radius
        codes = clustered_codes(400, n_bits, 6, 1.5 / n_bits, seed=seed)
    else:
        codes = _random_or_clustered(400, n_bits, seed, False)
    i, j, d = HammingIndex(codes, n_bits).self_pairs(radius)
    full = hamming_matrix(codes, codes)
    ei, ej = np.nonzero(np.triu(full <= radius, k=1))
    assert i.dtype == j.dtype == np.int32 and d.dtype == np.int16
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(j, ej)
    np.testing.assert_array_equal(d, full[ei, ej])
    if kind != "random":
        assert ei.size > 0


@pytest.mark.parametrize("chunk_pairs", [37, 4_000_000])  # runs cut into row segments / whole
@pytest.mark.parametrize("kind", ["clustered", "random", "duplicates"])
@pytest.mark.parametrize("n_bits", [8, 40, 64, 72, 128, 256])
@pytest.mark.parametrize("radius", [0, 1, 2, 4])
def test_compiled_kernel_equals_brute_force(kind: str, n_bits: int, radius: int,
                                            chunk_pairs: int) -> None:
    """The numba kernel (``kernel="numba"``) gives brute force's pairs, order and dtypes,
    for one-word (exact) and multi-word (hashed) block keys, with runs longer than a chunk
    cut into row segments."""
    pytest.importorskip("numba")
    seed = 7 * n_bits + radius
    if kind == "duplicates":
        base = clustered_codes(50, n_bits, 3, 1.5 / n_bits, seed=seed)
        codes = base[np.random.default_rng(seed).integers(0, 50, size=300)]
    elif kind == "clustered":
        codes = clustered_codes(300, n_bits, 5, 1.5 / n_bits, seed=seed)
    else:
        codes = _random_or_clustered(300, n_bits, seed, False)
    i, j, d = HammingIndex(codes, n_bits, chunk_pairs, kernel="numba").self_pairs(radius)
    full = hamming_matrix(codes, codes)
    ei, ej = np.nonzero(np.triu(full <= radius, k=1))
    assert i.dtype == j.dtype == np.int32 and d.dtype == np.int16
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(j, ej)
    np.testing.assert_array_equal(d, full[ei, ej])
    if kind != "random":
        assert ei.size > 0


def test_kernel_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` compiles only from ``KERNEL_MIN_CANDIDATES`` candidate pairs on; ``numba``
    without numba, and an unknown kernel, are one-line errors."""
    pytest.importorskip("numba")
    from dhr_sdk.codes import run_kernel

    calls: list[int] = []
    real = run_kernel.run_pairs

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_kernel, "run_pairs", counted)
    codes = clustered_codes(120, 32, 3, 0.03, seed=1)
    want = HammingIndex(codes, 32, kernel="numpy").self_pairs(2)
    assert not calls
    index = HammingIndex(codes, 32)
    candidates = hamming_index._candidates(index._table(2)[1])
    assert candidates > 0
    monkeypatch.setattr(run_kernel, "KERNEL_MIN_CANDIDATES", candidates + 1)
    HammingIndex(codes, 32).self_pairs(2)
    assert not calls
    monkeypatch.setattr(run_kernel, "KERNEL_MIN_CANDIDATES", candidates)
    got = HammingIndex(codes, 32).self_pairs(2)
    assert calls and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    with pytest.raises(DhrError, match="unknown Hamming kernel"):
        HammingIndex(codes, 32, kernel="cuda")
    monkeypatch.setattr(run_kernel, "available", lambda: False)
    with pytest.raises(DhrError, match=r"dhr-sdk\[fast\]"):
        HammingIndex(codes, 32, kernel="numba")
