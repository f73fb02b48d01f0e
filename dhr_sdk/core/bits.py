"""The one rule for code lengths: a multiple of 8 bits from 8 to 256 (one packed byte per 8
bits; 256 bits is four 64-bit words, the widest the Hamming index handles)."""

from __future__ import annotations

from dhr_sdk.core.errors import DhrError

MIN_BITS = 8
MAX_BITS = 256


def n_bits_problem(n_bits: int, low: int = MIN_BITS, high: int = MAX_BITS) -> str | None:
    """Why ``n_bits`` is not a valid code length in ``[low, high]``, or None when it is."""
    if low <= n_bits <= high and n_bits % 8 == 0:
        return None
    return f"code length must be a multiple of 8 from {low} to {high} bits, got {n_bits}"


def check_n_bits(n_bits: int, low: int = MIN_BITS, high: int = MAX_BITS) -> int:
    """``n_bits`` when it is a valid code length in ``[low, high]``; else a one-line error."""
    problem = n_bits_problem(n_bits, low, high)
    if problem is not None:
        raise DhrError(problem)
    return n_bits
