"""LAGNH's training loop: mini-batch graphs, alternating discriminator/generator Adam steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dhr_plugins.hashers._common.torch_utils import batches
from dhr_plugins.hashers.lagnh.loss import (
    classification_loss,
    discriminator_loss,
    generator_adversarial_loss,
    quantisation_loss,
    reconstruction_loss,
    total_generator_loss,
)
from dhr_plugins.hashers.lagnh.net import Discriminator, LagnhNet, aux_similarity, tag_rows
from dhr_sdk import Progress

TERMS = ("total", "gan_d", "gan_g", "recons", "quan", "cl")


@dataclass(frozen=True)
class TrainConfig:
    """The numbers the loop needs (a subset of the hasher's Params)."""

    epochs: int
    batch_size: int
    lr: float
    lambda1: float
    lambda2: float
    lambda3: float
    k: float
    mu: float
    sigma: float | None
    normalise_tags: bool
    neighbours: int | None


def generator_terms(net: LagnhNet, disc: Discriminator, x: torch.Tensor, y: torch.Tensor,
                    cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward one mini-batch; returns Z and the generator's loss terms (Eq. 8–12)."""
    z = net(x, y, cfg.mu, cfg.sigma, cfg.normalise_tags, cfg.neighbours)
    ys = tag_rows(y, cfg.normalise_tags)
    terms = {
        "gan_g": generator_adversarial_loss(disc(z)),
        "recons": reconstruction_loss(z, aux_similarity(ys, ys), cfg.k),
        "quan": quantisation_loss(z),
        "cl": classification_loss(net.head(z), y),
    }
    terms["total"] = total_generator_loss(terms["gan_g"], terms["recons"], terms["quan"],
                                          terms["cl"], cfg.lambda1, cfg.lambda2, cfg.lambda3)
    return z, terms


def train(net: LagnhNet, disc: Discriminator, x: np.ndarray, y: np.ndarray, cfg: TrainConfig,
          generator: torch.Generator, progress: Progress) -> list[dict[str, float]]:
    """Train in place; returns the per-epoch mean of each loss term (``TERMS``).

    Each step: one generator update on Eq. (12), then one discriminator update on Gaussian
    prior samples (real) vs the step's detached GCN outputs (fake).
    """
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt_g = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr)
    history: list[dict[str, float]] = []
    n_batches = -(-x.shape[0] // cfg.batch_size)
    bar = progress.bar(total=cfg.epochs * n_batches, desc="lagnh", unit="step")
    try:
        for epoch in range(cfg.epochs):
            sums = dict.fromkeys(TERMS, 0.0)
            for idx in batches(x.shape[0], cfg.batch_size, generator):
                xb, yb = xt[idx], yt[idx]
                z, terms = generator_terms(net, disc, xb, yb, cfg)
                # Eq. (12), min over G.
                opt_g.zero_grad()
                terms["total"].backward()
                opt_g.step()
                # Eq. (10), max over D: prior z' ~ N(0, I) is "real", G's output "fake".
                prior = torch.randn(z.shape, generator=generator)
                d_loss = discriminator_loss(disc(prior), disc(z.detach()))
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                sums["gan_d"] += float(d_loss.detach())
                for name, value in terms.items():
                    sums[name] += float(value.detach())
                bar.update(1)
            history.append({name: v / n_batches for name, v in sums.items()})
            if (epoch + 1) % max(1, cfg.epochs // 10) == 0 or epoch + 1 == cfg.epochs:
                h = history[-1]
                progress.log(f"lagnh epoch {epoch + 1}/{cfg.epochs}: loss {h['total']:.4f} "
                             f"(recons {h['recons']:.4f}, quan {h['quan']:.4f}, "
                             f"cl {h['cl']:.4f}, gan_g {h['gan_g']:.3f}, gan_d {h['gan_d']:.3f})")
    finally:
        bar.close()
    return history
