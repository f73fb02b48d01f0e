"""Data passed between the extension points: training data, graphs, ranks, importance lists.

These are plain containers; the store (``dhr_sdk.store``) persists each of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


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

    def per_image(self) -> HashGraph:
        """SHR's per-image graph of a merged graph: ``W = P (A + n_bits I) P^T - n_bits I``.

        ``P`` is the image-to-node membership matrix, so images of different nodes inherit
        the node edge and images of the same node are joined with weight ``n_bits``
        (``d = 0``). A per-image graph is returned unchanged.
        """
        if not self.merged:
            return self
        n, m = self.n_images, self.n_nodes
        member = sp.csr_matrix((np.ones(n), (np.arange(n), self.image_nodes)), shape=(n, m))
        with_self = (self.adjacency + self.n_bits * sp.identity(m, format="csr")).tocsr()
        w = (member @ with_self @ member.T).tocsr()
        w.setdiag(0.0)
        w.eliminate_zeros()
        w.sort_indices()
        return HashGraph(n_bits=self.n_bits, radius=self.radius,
                         node_codes=self.node_codes[self.image_nodes],
                         node_counts=np.ones(n, dtype=np.int64),
                         image_nodes=np.arange(n, dtype=np.int64), adjacency=w, merged=False)


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


@dataclass(frozen=True)
class MatchPairs:
    """Every (requirement image, importance-list row) pair within the radius.

    ``query[j]`` matched row ``row[j]`` at Hamming distance ``distance[j]``; pairs are sorted
    by ``(query, row)``. The distinct rows are the collection's matched codes; the images
    behind them are counted once however many requirement images match them.
    """

    query: np.ndarray
    row: np.ndarray
    distance: np.ndarray

    @classmethod
    def empty(cls) -> MatchPairs:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z)

    def __len__(self) -> int:
        return int(self.row.size)

    def nearest(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per distinct matched row: ``(rows, distance, query)`` of its nearest requirement
        image (ties: the lower requirement index), rows ascending."""
        if not len(self):
            return self.row, self.distance, self.query
        order = np.lexsort((self.query, self.distance, self.row))
        rows = self.row[order]
        first = np.ones(rows.size, dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        pick = order[first]
        return self.row[pick], self.distance[pick], self.query[pick]


@dataclass(frozen=True)
class WantedEstimate:
    """How much of a collection matches the requirement (the ``wanted-count`` assessor).

    ``count`` is the number of the collection's images within the radius of the
    requirement, each image counted once (weighted: an image counts the largest relative
    weight ``W_i / max W`` of the requirement images that match it); ``share`` is
    ``count / n_images``; ``[low, high]`` is the interval at confidence ``level`` over the
    choice of requirement images (jackknife, see the plugin's docstring).
    """

    count: float
    share: float
    low: float
    high: float
    level: float
    matched_images: int
    n_images: int


@dataclass
class Assessment:
    """One requirement against one collection.

    For the paper's assessor, ``relevance = 1 - k / total`` is R(AD) and ``score`` is S(q).
    An assessor that estimates the wanted amount fills ``estimate`` (and sets ``relevance``
    to its share); collections are ranked by :meth:`ranking_value`. ``matched_images`` are
    the distinct images of the collection within the radius of any requirement image;
    ``pairs`` says which requirement image matched which row.
    """

    relevance: float
    score: float
    rank: int
    total: int
    per_image: list[ImageMatch]
    warnings: list[str] = field(default_factory=list)
    matched_images: int = 0
    pairs: MatchPairs = field(default_factory=MatchPairs.empty)
    estimate: WantedEstimate | None = None

    def ranking_value(self) -> float:
        """What collections are sorted by: the estimated count when there is one, else R."""
        return self.estimate.count if self.estimate is not None else self.relevance
