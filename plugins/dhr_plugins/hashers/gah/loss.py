"""GAH's loss terms (paper sections 4.5 and 4.6), one function per equation.

Sums over samples/pairs in the paper are means over the mini-batch here (a constant
rescaling per batch that keeps learning rates independent of the batch size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

_EPS = 1e-6


def pair_similarity(labels: torch.Tensor) -> torch.Tensor:
    """s_ij = 1 if L(x_i) ∩ L(x_j) ≠ ∅ else 0 (section 4.2), from multi-hot labels (n, R)."""
    y = (labels > 0).float()
    return (y @ y.T > 0).float()


def _scale(k: int, unit: str) -> float:
    """δ's scale: ``"bits"`` K/2 · (1 − cos) as written in section 4.5 (Hamming distance of
    the signs), ``"normalized"`` (1 − cos)/2 = the fraction of differing bits, in [0, 1]."""
    return k / 2.0 if unit == "bits" else 0.5


def cauchy_distance(h: torch.Tensor, unit: str = "bits") -> torch.Tensor:
    """δ(h_i, h_j) = K/2 · (1 − cos(h_i, h_j)) for all pairs of a batch (section 4.5)."""
    u = F.normalize(h, dim=1, eps=_EPS)
    return _scale(h.shape[1], unit) * (1.0 - u @ u.T).clamp(min=0.0)


def cauchy_cross_entropy(h: torch.Tensor, similarity: torch.Tensor, gamma: float,
                         unit: str = "bits") -> torch.Tensor:
    """Eq. (5): Σ ω_ij (s_ij log(δ/γ) + log(1 + γ/δ)) over the pairs i < j of the batch.

    ω_ij = |S|/|S_s| for similar and |S|/|S_d| for dissimilar pairs; the weighted sum is
    divided by |S|. For s=1 the term equals log((δ+γ)/γ), for s=0 log((δ+γ)/δ); written
    that way it stays finite when δ → 0.
    """
    n = h.shape[0]
    iu = torch.triu_indices(n, n, offset=1)
    delta = cauchy_distance(h, unit)[iu[0], iu[1]]
    s = similarity[iu[0], iu[1]]
    if delta.numel() == 0:
        return h.sum() * 0.0
    term = torch.where(s > 0, torch.log((delta + gamma) / gamma),
                       torch.log((delta + gamma) / delta.clamp(min=_EPS)))
    n_pairs = float(delta.numel())
    n_sim = float(s.sum())
    n_dis = n_pairs - n_sim
    weight = torch.where(s > 0, n_pairs / max(n_sim, 1.0), n_pairs / max(n_dis, 1.0))
    return (weight * term).sum() / n_pairs


def cauchy_quantization(h: torch.Tensor, gamma: float, unit: str = "bits") -> torch.Tensor:
    """Eq. (6): mean over the batch of log(1 + δ(|h_i|, 1)/γ), δ the cosine distance above."""
    cos = F.cosine_similarity(h.abs(), torch.ones_like(h), dim=1, eps=_EPS)
    delta = _scale(h.shape[1], unit) * (1.0 - cos)
    return torch.log1p(delta / gamma).mean()


def hash_loss(h: torch.Tensor, similarity: torch.Tensor, gamma: float, lam: float,
              unit: str = "bits") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L = λ L_cce + (1 − λ) L_cq (section 4.5); returns (L, L_cce, L_cq)."""
    cce = cauchy_cross_entropy(h, similarity, gamma, unit)
    cq = cauchy_quantization(h, gamma, unit)
    return lam * cce + (1.0 - lam) * cq, cce, cq


def reconstruction_loss(m3: torch.Tensor, m3_bar: torch.Tensor, m4: torch.Tensor,
                        m4_bar: torch.Tensor, x: torch.Tensor, x_bar: torch.Tensor,
                        kappa: Sequence[float]) -> torch.Tensor:
    """Eq. (7): κ1‖M3 − M̄3‖² + κ2‖M4 − M̄4‖² + κ3‖x − x̄‖², mean over the batch."""
    k1, k2, k3 = kappa
    per = (k1 * (m3 - m3_bar).pow(2).sum(1) + k2 * (m4 - m4_bar).pow(2).sum(1)
           + k3 * (x - x_bar).pow(2).sum(1))
    return per.mean()


def decoder_regularizer(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. (8): ¼ Σ ‖W_f‖_F² over the decoder's fc weights."""
    return 0.25 * sum((w.pow(2).sum() for w in weights), torch.zeros(()))


def autoencoder_loss(reg: torch.Tensor, rec: torch.Tensor, alpha: float,
                     beta: float) -> torch.Tensor:
    """Eq. (9): L = α L_r + β L_f."""
    return alpha * reg + beta * rec
