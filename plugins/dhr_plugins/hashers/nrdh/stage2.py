"""NRDH stage 2: the hash-function loss on the fc head (Eqs. 13-19).

Wang, Song, Zhou, Liu, Pattern Recognition 112 (2021) 107785, Section 3.2 and Table 2.
"""

from __future__ import annotations

import torch

_EPS = 1e-7


def fc_loss(fc: torch.Tensor, node_repr: torch.Tensor) -> torch.Tensor:
    """Eq. (15): L_fc = avg sum_i ||fc(x_i) - g(x_i)||^2 (torch ``MSELoss``, as the paper says)."""
    return torch.mean((fc - node_repr) ** 2)


def self_targets(fch: torch.Tensor) -> torch.Tensor:
    """Eq. (16): b_i = 0.5 (sign(fch(x_i)) + 1), a constant target (no gradient)."""
    return 0.5 * (torch.sign(fch.detach()) + 1.0)


def fch_loss(fch: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. (17): BCE between fch(x_i) and its binarisation b_i (torch ``BCELoss``, mean).

    Deviation: fch = Tanh(fc) lies in (-1, 1) where log(fch) is undefined for negative
    values, so the probabilities fed to the BCE are (fch + 1) / 2, the affine map of
    (-1, 1) onto (0, 1) under which Eq. (16)'s b and Eq. (19)'s threshold agree.
    """
    prob = ((fch + 1.0) / 2.0).clamp(_EPS, 1.0 - _EPS)
    return -torch.mean(targets * torch.log(prob) + (1.0 - targets) * torch.log(1.0 - prob))


def stage2_loss(fc: torch.Tensor, node_repr: torch.Tensor, mu: float,
                omega: float) -> torch.Tensor:
    """Eq. (18): L_2 = mu L_fc + omega L_fch, with fch = Tanh(fc) (Eqs. 13-14)."""
    fch = torch.tanh(fc)
    return mu * fc_loss(fc, node_repr) + omega * fch_loss(fch, self_targets(fch))


def code_bits(fc: torch.Tensor) -> torch.Tensor:
    """Eq. (19): bit p is 1 iff fch(x^p) = Tanh(fc(x^p)) >= 0, i.e. iff fc(x^p) >= 0."""
    return (fc >= 0).to(torch.uint8)
