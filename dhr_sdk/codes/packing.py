"""Binary hash codes: packing, validation and Hamming distances.

The SDK's one code format is bit-packed ``uint8`` of shape ``(n, n_bits // 8)`` with
numpy's big-endian bit order (``np.packbits`` default): bit ``b`` of a code is bit
``7 - b % 8`` of byte ``b // 8``.
"""

from __future__ import annotations

import numpy as np

from dhr_sdk.core.bits import MAX_BITS, MIN_BITS, check_n_bits
from dhr_sdk.core.errors import DhrError

__all__ = ["MAX_BITS", "MIN_BITS", "check_n_bits", "check_packed", "hamming_matrix",
           "pack_bits", "popcount_bytes", "to_words", "unpack_bits"]

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a ``(n, n_bits)`` array of {0,1} / bool / {-1,+1} values (``> 0`` is bit 1)."""
    arr = np.asarray(bits)
    if arr.ndim != 2:
        raise DhrError(f"codes must be a 2-D array (n, n_bits), got shape {arr.shape}")
    check_n_bits(arr.shape[1])
    return np.packbits(arr > 0, axis=1)


def unpack_bits(packed: np.ndarray, n_bits: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_bits`: a ``(n, n_bits)`` uint8 array of 0/1."""
    packed = check_packed(packed, n_bits)
    return np.unpackbits(packed, axis=1)


def check_packed(packed: np.ndarray, n_bits: int | None = None) -> np.ndarray:
    """Validate a packed code array and return it as C-contiguous uint8."""
    arr = np.asarray(packed)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise DhrError(
            f"packed codes must be a 2-D uint8 array, got dtype {arr.dtype} shape {arr.shape}"
        )
    check_n_bits(arr.shape[1] * 8)
    if n_bits is not None and arr.shape[1] * 8 != n_bits:
        raise DhrError(f"codes have {arr.shape[1] * 8} bits, expected {n_bits}")
    return np.ascontiguousarray(arr)


def to_words(packed: np.ndarray) -> np.ndarray:
    """View packed codes as ``(n, n_bits // 64)`` uint64 words (zero-padded to 64 bits)."""
    packed = check_packed(packed)
    n, n_bytes = packed.shape
    pad = (-n_bytes) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((n, pad), dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All-pairs Hamming distances ``(len(a), len(b))`` between packed codes (dense; small sets)."""
    a = check_packed(a)
    b = check_packed(b, a.shape[1] * 8)
    if hasattr(np, "bitwise_count"):  # NumPy >= 2: popcount of 64-bit words
        xor = to_words(a)[:, None, :] ^ to_words(b)[None, :, :]
        return np.bitwise_count(xor).sum(axis=2, dtype=np.int64)
    xor = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return _POPCOUNT[xor].sum(axis=2, dtype=np.int64)


def popcount_bytes(x: np.ndarray) -> np.ndarray:
    """Bit count of every byte of ``x`` (uint8), same shape."""
    return _POPCOUNT[x]
