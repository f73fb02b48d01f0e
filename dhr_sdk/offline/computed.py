"""Backbone features (and codes) computed elsewhere, looked up by image path.

A distributed run computes the features of many collections on a cluster and hands each
store's writer its share as a :class:`Computed`; the writer runs the same code as a local
run, with :meth:`Computed.forward` standing in for the backbone forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dhr_sdk.core.errors import DhrError


@dataclass
class Computed:
    """``features[i]`` (and ``codes[i]``, packed) of image file ``paths[i]``; a non-empty
    ``reasons[i]`` says why that file could not be decoded."""

    paths: list[str]
    features: np.ndarray
    reasons: list[str]
    codes: np.ndarray | None = None
    _row: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._row = {p: i for i, p in enumerate(self.paths)}

    def rows(self, paths: Sequence[str]) -> np.ndarray | None:
        """Row of every path, or None when one was not computed."""
        try:
            return np.fromiter((self._row[p] for p in paths), dtype=np.int64, count=len(paths))
        except KeyError:
            return None

    def forward(self, paths: Sequence[str], backbone: Any, **_: Any
                ) -> tuple[np.ndarray, dict[int, str]]:
        """A :data:`dhr_sdk.data.features.Forward` returning what was computed."""
        rows = self.rows(paths)
        if rows is None:
            raise DhrError(f"the features of {len(paths)} images were not computed by the "
                           "cluster (did the collection change during the run?); run again")
        failed = {i: self.reasons[r] for i, r in enumerate(rows) if self.reasons[r]}
        return self.features[rows], failed

    def codes_of(self, paths: Sequence[str]) -> np.ndarray | None:
        """The codes of ``paths`` when every one was encoded, else None."""
        rows = None if self.codes is None else self.rows(paths)
        return None if rows is None or self.codes is None else self.codes[rows]
