"""What an evaluation measures and what one row of its results holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dhr_sdk.evaluation.metrics import (
    DEFAULT_K_VALUES,
    DEFAULT_TOPK,
    NoRelevant,
    RetrievalMetrics,
)

TIE_RULE = ("ascending Hamming distance; equal distances keep database order (stable sort "
            "on (distance, database index)); the database is in seeded random order")


@dataclass(frozen=True)
class MetricSpec:
    """Which metrics to compute (see :mod:`dhr_sdk.evaluation.metrics`)."""

    topk: tuple[int | None, ...] = DEFAULT_TOPK
    radius: int = 2
    k_values: tuple[int, ...] = DEFAULT_K_VALUES
    no_relevant: NoRelevant = "zero"

    def to_dict(self) -> dict[str, Any]:
        return {"topk": list(self.topk), "radius": self.radius, "k_values": list(self.k_values),
                "no_relevant": self.no_relevant, "tie_rule": TIE_RULE}


@dataclass
class EvalResult:
    """One hasher at one code length: params, timings, metrics (or why it was skipped)."""

    hasher: str
    n_bits: int
    params: dict[str, Any]
    metrics: RetrievalMetrics | None = None
    fit_seconds: float = 0.0
    encode_seconds: float = 0.0
    n_encoded: int = 0
    distinct_codes: int = 0
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"hasher": self.hasher, "n_bits": self.n_bits, "params": self.params,
                "fit_seconds": self.fit_seconds, "encode_seconds": self.encode_seconds,
                "n_encoded": self.n_encoded, "distinct_codes": self.distinct_codes,
                "error": self.error, "info": self.info,
                "metrics": None if self.metrics is None else self.metrics.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResult:
        m = d.get("metrics")
        return cls(d["hasher"], int(d["n_bits"]), dict(d["params"]),
                   None if m is None else RetrievalMetrics.from_dict(m),
                   float(d["fit_seconds"]), float(d["encode_seconds"]), int(d["n_encoded"]),
                   int(d["distinct_codes"]), d.get("error"), dict(d.get("info", {})))
