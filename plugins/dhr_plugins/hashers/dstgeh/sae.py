"""DSTGeH stage 1: cosine adjacency rows (Eq. 1) embedded by a Stacked AutoEncoder (Eqs. 2-8).

Liu, Wang, Song, Guo, Zhou, Xiao, "Deep self-taught graph embedding hashing with pseudo
labels for image retrieval", ICME 2020, Section 2.1.

Memory bound (deviation): the paper's SAE input is the full row u_i of the N x N adjacency
matrix. Rows are computed per mini-batch against a set of ``A`` anchor nodes, never stored:
all N nodes when N <= ``max_columns`` (exactly the paper's rows), otherwise a seeded uniform
sample of ``max_columns`` nodes, so memory is O(batch x A) and the first layer O(A x h1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def adjacency_rows(x_unit: torch.Tensor, anchors_unit: torch.Tensor) -> torch.Tensor:
    """Eq. (1): u_ij = v_i . v_j / (||v_i|| ||v_j||) for the rows of a batch, anchor columns."""
    return x_unit @ anchors_unit.T


def choose_anchors(n: int, max_columns: int, generator: torch.Generator) -> torch.Tensor:
    """All node indices if n <= max_columns (paper), else a sorted seeded sample of them."""
    if n <= max_columns:
        return torch.arange(n)
    return torch.sort(torch.randperm(n, generator=generator)[:max_columns]).values


def kappas(n_layers: int) -> dict[int, float]:
    """Eq. (4): weights kappa_t of layers m = 2t ("every other hidden layer").

    kappa_t / kappa_{t+1} = 2 and sum kappa_t = 1. Layer m = M (the code) is left out: its
    decoded counterpart is the code itself, so its term is identically zero.
    """
    layers = list(range(2, n_layers, 2))
    raw = [2.0 ** -(t + 1) for t in range(len(layers))]
    total = sum(raw)
    return {m: r / total for m, r in zip(layers, raw, strict=True)}


class ScaledTanh(nn.Module):
    """phi(chi) = Tanh(varrho * chi), Eq. (2)."""

    def __init__(self, varrho: float) -> None:
        super().__init__()
        self.varrho = varrho

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.varrho * x)


class StackedAutoEncoder(nn.Module):
    """Eq. (2) encoder A -> hidden... -> g with phi after every layer, mirrored decoder.

    ``decoder[m - 1]`` is the mirror of encoder layer m (dims[m] -> dims[m - 1]); decoding
    runs decoder[M-1], ..., decoder[0] and yields f-hat^(M-1), ..., f-hat^(1), u-hat.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], code_dim: int, varrho: float) -> None:
        super().__init__()
        self.dims = [in_dim, *hidden, code_dim]
        self.act = ScaledTanh(varrho)
        pairs = list(zip(self.dims[:-1], self.dims[1:], strict=True))
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.decoder = nn.ModuleList(nn.Linear(b, a) for a, b in pairs)

    @property
    def n_layers(self) -> int:
        """M, the number of encoder layers (the last one outputs the g-dim code)."""
        return len(self.encoder)

    def encode(self, u: torch.Tensor) -> list[torch.Tensor]:
        """[f^(1), ..., f^(M)] (Eq. 2); f^(M) is h-tilde."""
        out, f = [], u
        for layer in self.encoder:
            f = self.act(layer(f))
            out.append(f)
        return out

    def decode(self, code: torch.Tensor) -> dict[int, torch.Tensor]:
        """{m: f-hat^(m)} for m = M-1, ..., 1 and {0: u-hat}."""
        out, f = {}, code
        for m in range(self.n_layers - 1, -1, -1):
            f = self.act(self.decoder[m](f))
            out[m] = f
        return out

    def weight_matrices(self) -> list[torch.Tensor]:
        """W^(m) and W-hat^(m) for Eq. (6)."""
        return [lin.weight for lin in (*self.encoder, *self.decoder)]


def second_order_loss(u: torch.Tensor, fs: list[torch.Tensor], decoded: dict[int, torch.Tensor],
                      mu: float) -> torch.Tensor:
    """Eqs. (3)-(4): L_so = mu sum_i ||u_i - u-hat_i||^2 + (1 - mu) L_soh (sums over rows)."""
    recon = torch.sum((u - decoded[0]) ** 2)
    l_soh = u.new_zeros(())
    for m, kappa in kappas(len(fs)).items():
        l_soh = l_soh + kappa * torch.sum((fs[m - 1] - decoded[m]) ** 2)
    return mu * recon + (1.0 - mu) * l_soh


def first_order_loss(u_pairs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Eq. (5): L_fo = sum_{i,j} u_ij ||h-tilde_i - h-tilde_j||^2 over the given nodes."""
    sq = (h * h).sum(dim=1)
    dist = (sq[:, None] + sq[None, :] - 2.0 * h @ h.T).clamp_min(0.0)
    return torch.sum(u_pairs * dist)


def weight_regularizer(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. (6): L_r = 1/2 sum_m (||W^(m)||_F^2 + ||W-hat^(m)||_F^2)."""
    return 0.5 * sum((w ** 2).sum() for w in weights)  # type: ignore[return-value]


def batch_objective(model: StackedAutoEncoder, u: torch.Tensor, u_pairs: torch.Tensor,
                    n_total: int, mu: float, alpha: float, beta: float, gamma: float,
                    reduction: str = "sum") -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (7) L = alpha L_so + beta L_fo + gamma L_r, on a mini-batch of b of N rows.

    The batch loss is alpha L_so_b + beta (N/b) L_fo_b + gamma (b/N) L_r. Summed over the
    N/b disjoint batches of an epoch it estimates Eq. (7) over all N nodes without bias:
    L_so is a sum over rows (exact), L_fo's within-batch pairs (N b in all) stand for the
    N^2 pairs (hence N/b), and L_r counts once. With b = N it is exactly Eq. (7).
    Returns (batch loss, codes h-tilde of the batch).
    """
    b = u.shape[0]
    fs = model.encode(u)
    decoded = model.decode(fs[-1])
    if reduction == "mean":
        loss = (alpha * second_order_loss(u, fs, decoded, mu) / b
                + beta * first_order_loss(u_pairs, fs[-1]) / (b * b)
                + gamma * weight_regularizer(model.weight_matrices()))
        return loss, fs[-1]
    scale = n_total / b
    share = (alpha * second_order_loss(u, fs, decoded, mu)
             + beta * scale * first_order_loss(u_pairs, fs[-1])
             + gamma / scale * weight_regularizer(model.weight_matrices()))
    return share, fs[-1]


def pretrain_layer_loss(model: StackedAutoEncoder, m: int, inputs: torch.Tensor) -> torch.Tensor:
    """Greedy SAE pre-training of layer m (1-based): f^(m-1) through W^(m) and W-hat^(m)."""
    code = model.act(model.encoder[m - 1](inputs))
    recon = model.act(model.decoder[m - 1](code))
    return torch.mean(torch.sum((inputs - recon) ** 2, dim=1))
