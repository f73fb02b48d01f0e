"""GAH's label co-occurrence embedding (paper sections 4.1 and 4.3, after ML-GCN).

``cooccurrence_matrix`` builds the correlation matrix A from the training label set,
``normalized_adjacency`` the GCN propagation matrix Â, and :class:`LabelGCN` maps label word
vectors V(r) to co-occurrence embeddings E(r).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from dhr_sdk import DhrError


def cooccurrence_matrix(labels: np.ndarray) -> np.ndarray:
    """Correlation matrix A (R, R) from multi-hot labels (n, R), section 4.1/4.3.

    T_i = occurrences of object r_i, T_ij = co-occurrences of r_i and r_j;
    P_ij = P(r_i | r_j) = T_ij / T_j and A_ij = P_ji = T_ij / T_i. The diagonal is 0 (an
    object's co-occurrence with itself is not a relation; Â adds the self loop I_R), and an
    object that never occurs has an all-zero row. Fig. 5a: images {dog} and {dog, cat} give
    P(dog|cat) = A[cat, dog] = 1 and P(cat|dog) = A[dog, cat] = 1/2.
    """
    y = (np.asarray(labels) > 0).astype(np.float64)
    if y.ndim != 2:
        raise DhrError(f"labels must be a 2-D multi-hot array, got shape {y.shape}")
    t_ij = y.T @ y  # T_ij (T_ii = T_i on the diagonal)
    t_i = np.diag(t_ij).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(t_i[:, None] > 0, t_ij / t_i[:, None], 0.0)  # A_ij = T_ij / T_i = P_ji
    np.fill_diagonal(a, 0.0)
    return a


def normalized_adjacency(a: np.ndarray) -> np.ndarray:
    """Â = D̃^-½ (A + I_R) D̃^-½ with D̃_ii = Σ_j Ã_ij and Ã = A + I_R (section 4.3)."""
    a_tilde = np.asarray(a, dtype=np.float64) + np.eye(a.shape[0])
    d = a_tilde.sum(axis=1)
    d_inv_sqrt = 1.0 / np.sqrt(d)  # d >= 1 because of the self loop (A >= 0)
    return d_inv_sqrt[:, None] * a_tilde * d_inv_sqrt[None, :]


class LabelGCN(torch.nn.Module):
    """Stacked GCN layers V^{c+1} = F_gcn(Â V^c W^c) (section 4.3).

    F_gcn is LeakyReLU(0.2) between layers, as in ML-GCN; the last layer is linear so E(r)
    can take any sign. Â is a fixed buffer (part of the stored state).
    """

    def __init__(self, adjacency: np.ndarray, in_dim: int, dims: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("a_hat", torch.as_tensor(adjacency, dtype=torch.float32))
        sizes = [in_dim, *dims]
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter(torch.empty(sizes[i], sizes[i + 1])) for i in range(len(dims)))
        for w in self.weights:
            torch.nn.init.xavier_uniform_(w)
        self.act = torch.nn.LeakyReLU(0.2)

    @property
    def out_dim(self) -> int:
        return int(self.weights[-1].shape[1])

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        a_hat: torch.Tensor = self.a_hat  # type: ignore[assignment]
        for c, w in enumerate(self.weights):
            v = a_hat @ v @ w  # Â V^c W^c
            if c < len(self.weights) - 1:
                v = self.act(v)  # F_gcn
        return v
