"""Parameter checks the deep hashers share (the papers' loss-weight constraints)."""

from __future__ import annotations


def check_sum_to_one(a: float, b: float, names: str) -> None:
    """The papers constrain their loss weights to sum to 1."""
    if abs(a + b - 1.0) > 1e-6:
        raise ValueError(f"{names} must sum to 1 (paper constraint), got {a + b:g}")
