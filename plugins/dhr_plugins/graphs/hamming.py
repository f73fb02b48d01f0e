"""Graph builder ``hamming``: the restricted-Hamming-distance graph of section 5.1 (Eq. 10).

Two codes are connected when their Hamming distance ``d`` does not exceed ``radius`` (Ω,
inclusive); the edge weight is ``n_bits - d`` (the numerator of Eq. 11).

* ``merged=true`` (default, CPR's graph, Fig. 4a): identical codes become one node with its
  image count ``node_counts[t]``; edges join distinct codes. The edges between identical
  codes are implicit (CPR adds them as the diagonal ``(num_t - 1) f_tt``, Eq. 16).
* ``merged=false`` (SHR's graph): one node per image; identical codes are connected with
  weight ``n_bits`` (``d = 0``), as in the paper's original construction (Eq. 15).

The edge list is found with :class:`dhr_sdk.codes.hamming_index.HammingIndex` (multi-index
hashing on ``radius + 1`` blocks, chunked verification, dense tiles over the long runs of
clustered codes, or numba's compiled loop over them with ``kernel``), so no ``n x n``
matrix is ever formed; the result equals brute-force
all-pairs search exactly. The symmetric adjacency is assembled from the sorted upper
triangle by SciPy's transpose and row merge (:func:`symmetric_csr`). Edges of weight 0
(``d = n_bits``, only possible when ``radius >= n_bits``) carry no influence in Eq. 11 and
are dropped.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from dhr_sdk import (
    DEFAULT_CHUNK_PAIRS,
    MAX_BITS,
    QUIET,
    GraphBuilder,
    HammingIndex,
    HashGraph,
    Params,
    Progress,
    check_n_bits,
    check_packed,
    group_identical,
    hookimpl,
)


class HammingParams(Params):
    radius: int = Field(2, ge=0, le=MAX_BITS, description=(
        "Ω: connect codes whose Hamming distance is <= radius (inclusive; Eq. 10). The "
        "paper uses 2 and recommends a value below n_bits / 2."))
    merged: bool = Field(True, description=(
        "true: one node per distinct code with its image count (CPR's graph, Fig. 4a); "
        "false: one node per image, identical codes joined with weight n_bits (SHR)."))
    chunk_pairs: int = Field(DEFAULT_CHUNK_PAIRS, ge=1000, description=(
        "Candidate pairs verified per chunk; bounds the builder's working memory."))
    kernel: Literal["auto", "numba", "numpy"] = Field("auto", description=(
        "How candidate pairs are verified: numba (compiled; the dhr-sdk[fast] extra), "
        "numpy, or auto (numba when installed and the graph is large). Same edges."))


def merged_graph(codes: np.ndarray, n_bits: int, radius: int,
                 chunk_pairs: int = DEFAULT_CHUNK_PAIRS, kernel: str = "auto") -> HashGraph:
    """CPR's graph: distinct codes (sorted by bytes) with counts, edges ``d <= radius``."""
    node_codes, image_nodes, counts = group_identical(codes)
    m = node_codes.shape[0]
    i, j, d = HammingIndex(node_codes, n_bits, chunk_pairs, kernel).self_pairs(radius)
    if n_bits <= radius:  # weight 0 (d = n_bits) carries no influence: dropped
        keep = d < n_bits
        i, j, d = i[keep], j[keep], d[keep]
    adjacency = symmetric_csr(i, j, (n_bits - d).astype(np.int16), m)
    return HashGraph(n_bits=n_bits, radius=radius, node_codes=node_codes, node_counts=counts,
                     image_nodes=image_nodes, adjacency=adjacency, merged=True)


def symmetric_csr(i: np.ndarray, j: np.ndarray, weight: np.ndarray, m: int) -> sp.csr_matrix:
    """The symmetric ``m x m`` float64 CSR matrix (sorted indices) of the pairs ``i < j``,
    sorted by ``(i, j)``, with their non-zero weights in both directions.

    The given triangle is a CSR matrix as it stands (no sort); SciPy transposes it and
    merges the two sorted triangles row by row, in the weights' own dtype (pass a narrow
    one: at 10M codes int16 weights make this three times faster than float64) before one
    cast to float64. The COO route instead sorts both directions' entries at once.
    """
    ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=m), out=ptr[1:])
    upper = sp.csr_matrix((weight, j, ptr), shape=(m, m))
    both = upper + upper.T.tocsr()
    both.data = both.data.astype(np.float64)
    return both


class HammingGraphBuilder(GraphBuilder):
    """Restricted-Hamming-distance graph (Eq. 10), merged (CPR) or per image (SHR)."""

    name: ClassVar[str] = "hamming"
    summary: ClassVar[str] = "Codes within Hamming radius Ω joined with weight l - d (Eq. 10)"
    Params: ClassVar[type[HammingParams]] = HammingParams
    params: HammingParams
    conformance_params: ClassVar[dict[str, object]] = {}

    def build(self, codes: np.ndarray, n_bits: int, progress: Progress = QUIET) -> HashGraph:
        check_n_bits(n_bits)
        codes = check_packed(codes, n_bits)
        p = self.params
        progress.log(f"hamming graph: {codes.shape[0]} codes of {n_bits} bits, radius {p.radius}")
        graph = merged_graph(codes, n_bits, p.radius, p.chunk_pairs, p.kernel)
        progress.log(f"hamming graph: {graph.n_nodes} distinct codes, {graph.n_edges} edges")
        if not p.merged:
            graph = graph.per_image()
            progress.log(f"hamming graph: per-image graph with {graph.n_edges} edges")
        return graph


@hookimpl
def register_graph_builders(register: Any) -> None:
    register(HammingGraphBuilder)
