"""An assessor configuration kept as one plugin instance per importance list.

The built-in assessors cache the Hamming index of the *last* importance list they searched
(``index_for``). One instance serving several collections would therefore rebuild every
collection's index on every request (about 50 ms for 100,000 64-bit codes, against 0.2 ms
for a search on a built index). :class:`ResidentAssessor` keeps one instance per list, so
each list's index is built once and stays resident while the list is served.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from dhr_sdk.assessment.assess import make_assessor
from dhr_sdk.core.interfaces import Assessor
from dhr_sdk.core.types import Assessment, ImportanceList


class ResidentAssessor(Assessor):
    """Assessor plugin ``name`` with ``params``; ``assess`` runs on the instance kept for
    the given importance list. Name, params and ``Params`` are the plugin's own, so
    reports (``to_json``) describe the plugin, not this wrapper."""

    kind: ClassVar[str] = "assessor"

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        self._config = (name, dict(params or {}))
        self._template = make_assessor(name, params)
        self.params = self._template.params
        self._instances: dict[int, tuple[ImportanceList, Assessor]] = {}

    def __getattr__(self, attr: str) -> Any:
        # Only reached for attributes not set here: the plugin's name, Params, summary.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._template, attr)

    def assess(self, importance: ImportanceList, requirement_codes: np.ndarray,
               weights: np.ndarray | None = None) -> Assessment:
        kept = self._instances.get(id(importance))
        if kept is None or kept[0] is not importance:
            kept = (importance, make_assessor(*self._config))
            self._instances[id(importance)] = kept
        return kept[1].assess(importance, requirement_codes, weights)

    def keep_only(self, lists: Iterable[ImportanceList]) -> None:
        """Drop the instances (and indexes) of lists no longer served."""
        live = {id(il) for il in lists}
        self._instances = {k: v for k, v in self._instances.items() if k in live}

    @property
    def resident_lists(self) -> int:
        """How many importance lists have an instance (and so a resident index)."""
        return len(self._instances)
