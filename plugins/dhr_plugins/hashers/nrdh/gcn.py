"""NRDH stage 1: batch correlation graph (Eqs. 2-4) and GCN-based AutoEncoder (Eqs. 5-8).

Wang, Song, Zhou, Liu, "Unsupervised deep hashing with node representation for image
retrieval", Pattern Recognition 112 (2021) 107785, Section 3.1 and Table 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """Eq. (2): u_ij = v_i . v_j / (||v_i|| ||v_j||) for the M nodes of a batch graph."""
    unit = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def correlation_matrix(x: torch.Tensor, rho: float, p: float) -> torch.Tensor:
    """The re-weighted binary correlation matrix U' of a batch graph.

    Eq. (3) binarises the cosine matrix at ``rho`` (U_ij = 1 iff u_ij > rho); Eq. (4) gives
    each node weight ``p`` on itself and ``(1 - p) / sum_j U_ij`` on each correlated node.
    The paper writes the sum over all j, which would include U_ii = 1; we sum over the
    other nodes (j != i) so that, as the text says, "1 - p denotes the weights allocated to
    the other correlated nodes" (rows sum to 1). A node without neighbours keeps only p.
    """
    u = cosine_matrix(x)
    m = x.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=x.device)
    binary = (u > rho) & ~eye                                   # Eq. (3), off-diagonal
    weights = binary.to(x.dtype)
    degree = weights.sum(dim=1, keepdim=True)
    off = (1.0 - p) * weights / degree.clamp_min(1.0)           # Eq. (4), i != j
    return off + p * eye.to(x.dtype)                             # Eq. (4), i == j


class GCNLayer(nn.Module):
    """Eq. (5): X^{l+1} = f^l(U' X^l W^l) (no bias, as in the equation)."""

    def __init__(self, in_dim: int, out_dim: int, activation: bool) -> None:
        super().__init__()
        self.weight = nn.Linear(in_dim, out_dim, bias=False)
        self.activation = activation

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        h = adj @ self.weight(x)
        return torch.relu(h) if self.activation else h


class GCNAutoEncoder(nn.Module):
    """Table 1 encoder (z -> 64 -> 64 -> g, ReLU, ReLU, none) and its mirrored decoder.

    The paper's input is z = 2048 (ResNet-101 pool features); here ``in_dim`` is the
    feature dimension seen at fit time. The decoder "reverses the above processing":
    g -> 64 -> 64 -> z with ReLU, ReLU and a linear output, on the same graph U'.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], code_dim: int) -> None:
        super().__init__()
        dims = [in_dim, *hidden, code_dim]
        n = len(dims) - 1
        self.encoder = nn.ModuleList(
            GCNLayer(dims[i], dims[i + 1], activation=i < n - 1) for i in range(n))
        back = dims[::-1]
        self.decoder = nn.ModuleList(
            GCNLayer(back[i], back[i + 1], activation=i < n - 1) for i in range(n))

    def encode(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """X^{K+1}: the g-dimensional node representations of the batch."""
        for layer in self.encoder:
            x = layer(x, adj)
        return x

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(node representations, reconstruction X-hat)."""
        z = self.encode(x, adj)
        out = z
        for layer in self.decoder:
            out = layer(out, adj)
        return z, out

    def weight_matrices(self) -> list[torch.Tensor]:
        """W^(l) of the encoder and W-hat^(l) of the decoder (for Eq. 7)."""
        return [m.weight.weight for m in (*self.encoder, *self.decoder)]


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Eq. (6): L_r = avg ||X - X-hat||_2^2, the mean over nodes of the squared L2 norm.

    Read literally (squared 2-norm of each node's error, averaged over the training
    samples). A per-element mean (torch ``MSELoss``) would make Eq. (7)'s absolute weight
    penalty ~d times stronger: with beta = 0.001 it drives every ReLU to zero within one
    epoch (measured on MNIST pixels), so that reading cannot be the paper's.
    """
    return torch.mean(torch.sum((x - x_hat) ** 2, dim=1))


def weight_regularizer(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. (7): L_w = 1/2 sum_l (||W^(l)||_F^2 + ||W-hat^(l)||_F^2)."""
    return 0.5 * sum((w ** 2).sum() for w in weights)  # type: ignore[return-value]


def stage1_loss(model: GCNAutoEncoder, x: torch.Tensor, adj: torch.Tensor, alpha: float,
                beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (8): L_1 = alpha L_r + beta L_w; returns (L_1, node representations)."""
    z, x_hat = model(x, adj)
    loss = alpha * reconstruction_loss(x, x_hat) + beta * weight_regularizer(
        model.weight_matrices())
    return loss, z
