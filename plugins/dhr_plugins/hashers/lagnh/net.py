"""LAGNH's networks and graph (paper ``lagnh.md`` section 3, Eq. 1–7, Table 1).

Layout: rows are images (the paper writes columns), so ``W X S̃`` becomes ``S̃ X W``.
Everything here is a pure function of its inputs so it can be unit-tested on tiny tensors.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-12


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All-pairs cosine similarities ``(len(a), len(b))``."""
    return F.normalize(a, dim=1, eps=EPS) @ F.normalize(b, dim=1, eps=EPS).T


def attention_weights(x_bar: torch.Tensor, y_bar: torch.Tensor) -> torch.Tensor:
    """Eq. (1): ``alpha_ij = [cos(x̄_i, ȳ_j)]_+``."""
    return torch.clamp(cosine_matrix(x_bar, y_bar), min=0.0)


def attend(x_bar: torch.Tensor, y_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (2): ``x_i^att = sum_j alpha_ij ȳ_j / sum_j alpha_ij + x̄_i``; returns (x_att, alpha).

    An image whose weights are all zero (every cosine <= 0) gets ``x̄_i`` unchanged instead
    of a division by zero.
    """
    alpha = attention_weights(x_bar, y_bar)
    norm = alpha.sum(dim=1, keepdim=True).clamp_min(EPS)
    return alpha @ y_bar / norm + x_bar, alpha


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``||a_i - b_j||^2`` for all pairs, clamped at 0 against rounding."""
    d = (a * a).sum(1, keepdim=True) - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return d.clamp_min(0.0)


def median_bandwidth(x_att: torch.Tensor) -> float:
    """Median heuristic for Eq. (3)'s sigma (the paper leaves it open): the median distance
    between distinct rows of ``x_att``; 1.0 for fewer than two rows or identical rows."""
    n = x_att.shape[0]
    if n < 2:
        return 1.0
    d2 = squared_distances(x_att, x_att)
    off = d2[~torch.eye(n, dtype=torch.bool)]
    sigma = float(torch.sqrt(off.median()))
    return sigma if sigma > 0.0 else 1.0


def visual_similarity(a: torch.Tensor, b: torch.Tensor, sigma: float) -> torch.Tensor:
    """Eq. (3): Gaussian kernel ``exp(-||x_i^att - x_j^att||^2 / (2 sigma^2))``."""
    return torch.exp(-squared_distances(a, b) / (2.0 * sigma * sigma))


def keep_nearest(s: torch.Tensor, k: int | None, square: bool) -> torch.Tensor:
    """Keep each row's ``k`` largest entries of a similarity matrix (``None``: all).

    ``square``: ``s`` is the symmetric batch graph with self-similarity on the diagonal;
    each row keeps itself plus ``k`` neighbours and the mask is symmetrised (an edge stays
    if either end keeps it). Otherwise rows are queries against anchors, ``k`` per row.
    """
    if k is None:
        return s
    keep = min(k + 1 if square else k, s.shape[1])
    idx = torch.topk(s, keep, dim=1).indices
    mask = torch.zeros_like(s, dtype=torch.bool).scatter_(1, idx, True)
    if square:
        mask = mask | mask.T
    return torch.where(mask, s, torch.zeros_like(s))


def aux_similarity(ya: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Eq. (4): ``S^a_ij = y_i^T y_j`` (shared tags; see :func:`tag_rows` for scaling)."""
    return ya @ yb.T


def tag_rows(y: torch.Tensor, normalise: bool) -> torch.Tensor:
    """Tag vectors as used in Eq. (4): unit rows when ``normalise`` (then ``S^a`` is the
    cosine of tag sets, in [0, 1] like the ``[cos(Z, Z)]_+`` Eq. (9) reconstructs it with);
    raw multi-hot rows otherwise (the paper's literal inner product, up to #tags)."""
    return F.normalize(y, dim=1, eps=EPS) if normalise else y


def augmented_graph(s_v: torch.Tensor, s_a: torch.Tensor, mu: float) -> torch.Tensor:
    """Eq. (5): ``S = mu S^v + S^a``."""
    return mu * s_v + s_a


def normalise_graph(s: torch.Tensor) -> torch.Tensor:
    """``S̃ = D^-1/2 S D^-1/2`` with ``D_ii = sum_j S_ij`` (zero-degree rows stay zero)."""
    d = s.sum(dim=1)
    inv = torch.where(d > 0, d.clamp_min(EPS).rsqrt(), torch.zeros_like(d))
    return inv[:, None] * s * inv[None, :]


class AttentionEncoder(nn.Module):
    """The two linear maps of section 3.2: features -> x̄ (d'), tags -> ȳ (d')."""

    def __init__(self, in_dim: int, n_tags: int, att_dim: int) -> None:
        super().__init__()
        self.img = nn.Linear(in_dim, att_dim)
        self.tag = nn.Linear(n_tags, att_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.img(x), self.tag(y)


class GCN(nn.Module):
    """Table 1's generator: GC1 d' -> hidden (ReLU), GC2 hidden -> r (linear), Eq. (6)–(7).

    The paper writes no bias (``sigma(W X S̃)``), so the layers have none.
    """

    def __init__(self, att_dim: int, hidden: int, n_bits: int) -> None:
        super().__init__()
        self.gc1 = nn.Linear(att_dim, hidden, bias=False)
        self.gc2 = nn.Linear(hidden, n_bits, bias=False)

    def layer1(self, s_norm: torch.Tensor, x_att: torch.Tensor) -> torch.Tensor:
        """Eq. (6): ``Z1 = ReLU(S̃ X^att W1)``, multiplied as ``(S̃ X^att) W1`` (d' < hidden)."""
        return torch.relu(self.gc1(s_norm @ x_att))

    def layer2(self, s_norm: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
        """Eq. (7): ``Z = S̃ Z1 W2`` (no activation, Table 1)."""
        return s_norm @ self.gc2(z1)

    def forward(self, s_norm: torch.Tensor, x_att: torch.Tensor) -> torch.Tensor:
        return self.layer2(s_norm, self.layer1(s_norm, x_att))


class Discriminator(nn.Module):
    """Table 1's discriminator: r -> 64 -> 32 -> 1 with ReLU, outputs a logit."""

    def __init__(self, n_bits: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_bits, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                                 nn.Linear(32, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


class LagnhNet(nn.Module):
    """Attention encoder + GCN + classification head (the parts that encode)."""

    def __init__(self, in_dim: int, n_tags: int, att_dim: int, hidden: int, n_bits: int) -> None:
        super().__init__()
        self.encoder = AttentionEncoder(in_dim, n_tags, att_dim)
        self.gcn = GCN(att_dim, hidden, n_bits)
        # Eq. (11) compares an r-dim output with c tags: a linear head r -> c resolves it.
        self.head = nn.Linear(n_bits, n_tags)

    def batch_graph(self, x: torch.Tensor, y: torch.Tensor, mu: float, sigma: float | None,
                    normalise_tags: bool, neighbours: int | None
                    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Attentive features and the normalised mini-batch graph: (x_att, S̃, sigma).

        The graph is supervision (section 3.3), so it is built without gradient.
        """
        x_bar, y_bar = self.encoder(x, y)
        x_att, _ = attend(x_bar, y_bar)
        with torch.no_grad():
            xd = x_att.detach()
            bw = median_bandwidth(xd) if sigma is None else sigma
            ys = tag_rows(y, normalise_tags)
            s_v = keep_nearest(visual_similarity(xd, xd, bw), neighbours, square=True)
            s = augmented_graph(s_v, aux_similarity(ys, ys), mu)
            s_norm = normalise_graph(s)
        return x_att, s_norm, bw

    def forward(self, x: torch.Tensor, y: torch.Tensor, mu: float, sigma: float | None,
                normalise_tags: bool, neighbours: int | None) -> torch.Tensor:
        """Continuous codes Z of a mini-batch, the graph built on the batch itself."""
        x_att, s_norm, _ = self.batch_graph(x, y, mu, sigma, normalise_tags, neighbours)
        return self.gcn(s_norm, x_att)
