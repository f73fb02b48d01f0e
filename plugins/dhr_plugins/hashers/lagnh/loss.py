"""LAGNH's loss terms, Eq. (8)–(12) of ``lagnh.md``.

Reductions are means (not the paper's Frobenius sums): with sums the terms scale with
batch² (Eq. 9) versus batch·r (Eq. 8) and the paper's weights lambda_1 = 100, lambda_2 = 1,
lambda_3 = 1 would not balance them across batch sizes; per-element means keep them
comparable, as ``torch.nn`` losses do by default.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from dhr_plugins.hashers.lagnh.net import cosine_matrix


def quantisation_loss(z: torch.Tensor) -> torch.Tensor:
    """Eq. (8): ``||B - Z||_F^2`` with ``B = sgn(Z)`` held fixed (mean over entries)."""
    b = torch.where(z.detach() >= 0, 1.0, -1.0)
    return F.mse_loss(z, b)


def reconstruction_loss(z: torch.Tensor, s_a: torch.Tensor, k: float) -> torch.Tensor:
    """Eq. (9): ``||k S^a - [cos(Z, Z)]_+||_F^2`` (mean over the batch x batch entries)."""
    cos = torch.clamp(cosine_matrix(z, z), min=0.0)
    return F.mse_loss(cos, k * s_a)


def classification_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. (11): binary cross-entropy between sigmoid(head(Z)) and the tags.

    The paper writes ``sum y log d(z) + (1 - y) log(1 - d(z))`` to be *minimised*, which
    has the sign of a log-likelihood; the intended loss is its negative (cross-entropy).
    ``logits`` are the r -> c head's outputs (section "classification head" of the docs).
    """
    return F.binary_cross_entropy_with_logits(logits, y)


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Eq. (10), the max over D: ``-E log D(z') - E log(1 - D(G(Z)))`` on logits."""
    return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


def generator_adversarial_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Eq. (10), the min over G, in the non-saturating form ``-E log D(G(Z))``.

    Goodfellow et al. (the paper's [8]) recommend it over ``E log(1 - D(G(Z)))``, whose
    gradient vanishes while D wins; ARGA ([31], the adversarial GCN LAGNH follows) uses it.
    """
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def total_generator_loss(adv: torch.Tensor, recons: torch.Tensor, quan: torch.Tensor,
                         cl: torch.Tensor, lambda1: float, lambda2: float,
                         lambda3: float) -> torch.Tensor:
    """Eq. (12): ``L_GAN + lambda1 L_recons + lambda2 L_quan + lambda3 L_cl``."""
    return adv + lambda1 * recons + lambda2 * quan + lambda3 * cl
