"""Parameter checks the deep hashers share (code lengths, paper loss-weight constraints)."""

from __future__ import annotations


def check_code_length(n_bits: int) -> int:
    """The deep hashers support 16 to 128 bits in steps of 8."""
    if not 16 <= n_bits <= 128 or n_bits % 8:
        raise ValueError("n_bits must be a multiple of 8 from 16 to 128")
    return n_bits


def check_sum_to_one(a: float, b: float, names: str) -> None:
    """The papers constrain their loss weights to sum to 1."""
    if abs(a + b - 1.0) > 1e-6:
        raise ValueError(f"{names} must sum to 1 (paper constraint), got {a + b:g}")
