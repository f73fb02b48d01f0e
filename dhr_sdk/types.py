"""Data passed between the extension points: training data, graphs, ranks, importance lists.

These are plain containers; the store (``dhr_sdk.store``) persists each of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from dhr_sdk.errors import DhrError

if TYPE_CHECKING:
    from dhr_sdk.interfaces import Backbone


@dataclass(frozen=True)
class FitImages:
    """The images behind :attr:`FitData.features`, for hashers that fine-tune the backbone.

    ``dataset`` is a torch ``Dataset`` whose item ``i`` is ``(tensor, i, reason)``: row ``i``
    of the features preprocessed by ``backbone.transform()`` (``reason`` is empty; the
    collection already dropped unreadable files). ``backbone`` is the plugin that computed
    the features; ``device``, ``workers`` are where and with how many loader processes to
    train.
    """

    dataset: Any
    backbone: Backbone
    device: str = "cpu"
    workers: int = 0

    def __len__(self) -> int:
        return len(self.dataset)


@dataclass(frozen=True)
class FitData:
    """What a hasher learns from.

    ``features`` are backbone features of the collection to hash (the "dark" data), one row
    per image. ``labels``/``tags`` are optional multi-hot matrices aligned with those rows
    (labels: ground-truth classes, tags: auxiliary semantics such as LAGNH's). A separate
    labeled training set (GAH's public set of stage TP-A) comes as ``train_features`` and
    ``train_labels``. ``images`` (:class:`FitImages`) are given to hashers that fine-tune
    the backbone end to end. Hashers declare what they need in
    ``Hasher.required_inputs()``.
    """

    features: np.ndarray
    labels: np.ndarray | None = None
    tags: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    tag_names: tuple[str, ...] = ()
    train_features: np.ndarray | None = None
    train_labels: np.ndarray | None = None
    images: FitImages | None = None

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or self.features.shape[0] == 0:
            raise DhrError(f"features must be a non-empty (n, d) array, got {self.features.shape}")
        n = self.features.shape[0]
        for name in ("labels", "tags"):
            arr = getattr(self, name)
            if arr is not None and (arr.ndim != 2 or arr.shape[0] != n):
                raise DhrError(f"{name} must have one row per image ({n}), got {arr.shape}")
        if (self.train_features is None) != (self.train_labels is None):
            raise DhrError("train_features and train_labels must be given together")
        if self.images is not None and len(self.images) != n:
            raise DhrError(f"images must have one item per feature row ({n}), "
                           f"got {len(self.images)}")


@dataclass
class HashGraph:
    """A graph over hash codes.

    ``merged=True`` (CPR's graph, Fig. 4a): one node per distinct code with ``node_counts``
    images, edges between distinct codes at Hamming distance ``d <= radius`` with weight
    ``n_bits - d``. ``merged=False`` (SHR's graph): one node per image, identical codes
    connected with weight ``n_bits``. ``adjacency`` is symmetric with an empty diagonal.
    ``image_nodes[i]`` is the node of image ``i``.
    """

    n_bits: int
    radius: int
    node_codes: np.ndarray
    node_counts: np.ndarray
    image_nodes: np.ndarray
    adjacency: sp.csr_matrix
    merged: bool

    @property
    def n_nodes(self) -> int:
        return int(self.node_codes.shape[0])

    @property
    def n_images(self) -> int:
        return int(self.image_nodes.shape[0])

    @property
    def n_edges(self) -> int:
        """Undirected edges (each stored twice in the symmetric adjacency)."""
        return int(self.adjacency.nnz // 2)


@dataclass
class RankResult:
    """Importance scores of a graph's nodes.

    ``node_scores[t]`` is the score of *each image* in node ``t`` (SHR's ``R(N_i)``), so
    per-image scores are ``node_scores[graph.image_nodes]`` for merged and per-image graphs
    alike. ``converged=False`` means the iteration hit ``max_iter`` (e.g. a bipartite
    component); ``residual`` is the last max |R^{k+1} - R^k|.
    """

    node_scores: np.ndarray
    method: str
    iterations: int
    converged: bool
    residual: float
    info: dict[str, float | int | str] = field(default_factory=dict)


@dataclass
class ImportanceList:
    """The look-up table of section 3.4 (Fig. 4b), one row per distinct code.

    Columns: ``codes`` (H, packed), ``scores`` (S), ``order`` (O, 1-based), ``counts``
    (N, images per code), and D as CSR: the images of row ``r`` are
    ``members[members_indptr[r]:members_indptr[r + 1]]`` (indices into the store's image
    ids). Rows are sorted by S descending; ties by code bytes ascending.
    """

    n_bits: int
    codes: np.ndarray
    scores: np.ndarray
    order: np.ndarray
    counts: np.ndarray
    members_indptr: np.ndarray
    members: np.ndarray

    @property
    def n_codes(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_images(self) -> int:
        return int(self.counts.sum())

    def images_of(self, row: int) -> np.ndarray:
        """Image indices behind row ``row``."""
        return self.members[self.members_indptr[row]:self.members_indptr[row + 1]]


@dataclass
class ImageMatch:
    """How one requirement image contributed to S(q) (Eq. 1)."""

    index: int
    weight: float
    matched_codes: int
    matched_images: int
    mean_score: float
    contribution: float
    radius_used: int
    top_rows: list[int] = field(default_factory=list)


@dataclass
class Assessment:
    """R(AD) of one requirement against one collection: ``relevance = 1 - k / total``."""

    relevance: float
    score: float
    rank: int
    total: int
    per_image: list[ImageMatch]
    warnings: list[str] = field(default_factory=list)
