"""Typed records of the store's elements (what readers return and writers take)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from dhr_sdk.store.format import Provenance


@dataclass
class CollectionRecord:
    """Image identities (paths relative to ``root``), skipped files, optional labels/tags.

    ``labels``/``tags`` are sparse multi-hot matrices (n_images, n_names).
    """

    image_ids: list[str]
    root: str = ""
    skipped: list[str] = field(default_factory=list)
    skipped_reasons: list[str] = field(default_factory=list)
    labels: sp.csr_matrix | None = None
    label_names: list[str] = field(default_factory=list)
    tags: sp.csr_matrix | None = None
    tag_names: list[str] = field(default_factory=list)
    signature: str = ""
    """Digest of the listed files (ids, sizes, mtimes) to detect changed collections."""


@dataclass
class FeaturesRecord:
    """Backbone features, one row per image id, keyed by backbone name + params."""

    key: str
    features: np.ndarray
    backbone: str
    backbone_params: dict[str, object]


@dataclass
class ModelRecord:
    """A fitted hasher: its name, params and state arrays, plus the backbone that feeds it."""

    hasher: str
    params: dict[str, object]
    state: dict[str, np.ndarray]
    n_bits: int
    backbone: str
    backbone_params: dict[str, object]
    provenance: Provenance


@dataclass
class CodesRecord:
    """Packed codes, one row per image id."""

    codes: np.ndarray
    n_bits: int
    provenance: Provenance
