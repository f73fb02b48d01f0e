"""GAH's full network and its alternating training (paper section 4, TP-A / TP-B).

A training process (TP) is stage TP-A (supervised hash learning on labeled pairs, Eq. 5–6)
followed by stage TP-B (the autoencoder on the sampled dark data, Eq. 7–9). Each stage runs
epochs until its loss changes by less than ``stage_tol`` (relative) between two consecutive
epochs — the comparison carries over from the same stage of the previous TP — or
``max_stage_epochs``. TPs repeat until the epochs a TP needed fall below ``tp_epochs_threshold``
(both stages converged at once) or ``max_tps`` (a CPU cap; the paper sets no limit).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dhr_plugins.hashers._common.torch_utils import batches
from dhr_plugins.hashers.gah import loss as L
from dhr_plugins.hashers.gah.graph import LabelGCN
from dhr_plugins.hashers.gah.net import Decoder, Encoder
from dhr_sdk import Progress


class GAHNetwork(nn.Module):
    """Word vectors V(r) → GCN → E(r); encoder (image, MFB, fch); decoder."""

    def __init__(self, *, in_dim: int, words: np.ndarray, adjacency: np.ndarray,
                 learn_words: bool, gcn_dims: Sequence[int], image_dim: int, k: int,
                 n_bits: int, pixel_shape: Sequence[int]) -> None:
        super().__init__()
        v = torch.as_tensor(words, dtype=torch.float32)
        if learn_words:
            self.words = nn.Parameter(v)
        else:
            self.register_buffer("words", v)
        n_labels = v.shape[0]
        self.gcn = LabelGCN(adjacency, v.shape[1], gcn_dims)
        self.encoder = Encoder(in_dim, image_dim, self.gcn.out_dim, n_labels, k, n_bits)
        self.decoder = Decoder(n_bits, n_labels, k, self.encoder.image.out_dim, in_dim,
                               pixel_shape)

    def embeddings(self) -> torch.Tensor:
        """E(r) = GCN(V(r)), (R, D(E(r)))."""
        words: torch.Tensor = self.words
        return self.gcn(words)

    def stage_a_parameters(self) -> list[nn.Parameter]:
        """TP-A trains the GCN (and learned word vectors), the image layer, MFB and fch."""
        return [p for name, p in self.named_parameters() if not name.startswith("decoder.")]

    def stage_b_groups(self, lr: float, finetune_scale: float) -> list[dict[str, object]]:
        """TP-B trains the decoder and fine-tunes the image representation θ ("the CNN",
        section 4: TP-B fine-tunes the CNN on the dark data); GCN, MFB and fch keep what TP-A
        learned."""
        groups: list[dict[str, object]] = [{"params": list(self.decoder.parameters()), "lr": lr}]
        image = list(self.encoder.image.parameters())
        if image and finetune_scale > 0:
            groups.append({"params": image, "lr": lr * finetune_scale})
        return groups


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation hyper-parameters (see GAH.Params for their meaning)."""

    gamma: float
    delta_unit: str
    lam: float
    kappa: tuple[float, float, float]
    recon_normalize: bool
    alpha: float
    beta: float
    lr: float
    finetune_lr_scale: float
    batch_size: int
    max_tps: int
    max_stage_epochs: int
    stage_tol: float
    tp_epochs_threshold: int
    dark_sample: int


@dataclass
class StageResult:
    """One stage of one TP: whether its loss settled, and the mean loss of every epoch."""

    tp: int
    stage: str
    converged: bool
    losses: list[float]

    @property
    def epochs(self) -> int:
        return len(self.losses)

    @property
    def loss(self) -> float:
        return self.losses[-1]


def _epoch_a(net: GAHNetwork, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
             cfg: TrainConfig, gen: torch.Generator) -> float:
    total, count = 0.0, 0
    for idx in batches(x.shape[0], cfg.batch_size, gen):
        if idx.numel() < 2:
            continue
        out = net.encoder(x[idx], net.embeddings())
        loss, _, _ = L.hash_loss(out.h, L.pair_similarity(y[idx]), cfg.gamma, cfg.lam,
                                  cfg.delta_unit)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * idx.numel()
        count += idx.numel()
    return total / max(count, 1)


def _epoch_b(net: GAHNetwork, opt: torch.optim.Optimizer, x: torch.Tensor,
             target: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> float:
    with torch.no_grad():
        emb = net.embeddings()  # E(r) fixed in TP-B
    total, count = 0.0, 0
    for idx in batches(x.shape[0], cfg.batch_size, gen):
        out = net.encoder(x[idx], emb)
        m3_bar, m4_bar, x_bar = net.decoder(out.h)
        # Encoder outputs are reconstruction targets, not free variables: detached so the
        # encoder cannot shrink M3/M4 to make Eq. (7) trivially small.
        m3, m4, xt = out.m3.detach(), out.m4.detach(), target[idx]
        if cfg.recon_normalize:
            s3, s4, sx = _rms(m3), _rms(m4), _rms(xt)
            m3, m3_bar, m4, m4_bar, xt, x_bar = (m3 / s3, m3_bar / s3, m4 / s4, m4_bar / s4,
                                                 xt / sx, x_bar / sx)
        rec = L.reconstruction_loss(m3, m3_bar, m4, m4_bar, xt, x_bar, cfg.kappa)
        reg = L.decoder_regularizer(net.decoder.fc_weights())
        loss = L.autoencoder_loss(reg, rec, cfg.alpha, cfg.beta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * idx.numel()
        count += idx.numel()
    return total / max(count, 1)


def _rms(t: torch.Tensor) -> torch.Tensor:
    """sqrt(mean_i ‖t_i‖²) of a (detached) target batch: divides an Eq. (7) term so that it
    measures relative error, whatever the scale the encoder gives M3 and M4."""
    return t.pow(2).sum(dim=1).mean().sqrt().clamp(min=1e-8)


def _run_stage(epoch: Callable[[], float], last: float | None, cfg: TrainConfig
               ) -> tuple[bool, list[float]]:
    losses: list[float] = []
    for _ in range(cfg.max_stage_epochs):
        losses.append(epoch())
        if last is not None and abs(last - losses[-1]) <= cfg.stage_tol * max(abs(last), 1e-12):
            return True, losses
        last = losses[-1]
    return False, losses


def train(net: GAHNetwork, train_x: torch.Tensor, train_y: torch.Tensor, dark_x: torch.Tensor,
          dark_target: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
          progress: Progress) -> list[StageResult]:
    """Alternate TP-A and TP-B until the TP convergence rule holds; returns the history."""
    opt_a = torch.optim.Adam(net.stage_a_parameters(), lr=cfg.lr)
    opt_b = torch.optim.Adam(net.stage_b_groups(cfg.lr, cfg.finetune_lr_scale))
    history: list[StageResult] = []
    last: dict[str, float | None] = {"A": None, "B": None}
    net.train()
    bar = progress.bar(total=cfg.max_tps, desc="gah TPs", unit="TP")
    for tp in range(1, cfg.max_tps + 1):
        sample = _dark_sample(dark_x.shape[0], cfg.dark_sample, gen)
        xb, tb = dark_x[sample], dark_target[sample]
        stages: list[tuple[str, Callable[[], float]]] = [
            ("A", functools.partial(_epoch_a, net, opt_a, train_x, train_y, cfg, gen)),
            ("B", functools.partial(_epoch_b, net, opt_b, xb, tb, cfg, gen))]
        used = 0
        for stage, epoch in stages:
            converged, losses = _run_stage(epoch, last[stage], cfg)
            res = StageResult(tp, stage, converged, losses)
            last[stage] = res.loss
            used += res.epochs
            history.append(res)
            progress.log(f"gah TP {tp} stage {stage}: {res.epochs} epoch(s), loss "
                         f"{losses[0]:.4f} -> {res.loss:.4f}{'' if converged else ' (epoch cap)'}")
        bar.update(1)
        if tp > 1 and used < cfg.tp_epochs_threshold:
            progress.log(f"gah converged after {tp} TPs ({used} epochs in the last TP)")
            break
    bar.close()
    net.eval()
    return history


def _dark_sample(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """The "Sampled Dark Dataset" of one TP: ``size`` random rows (all when 0 or >= n)."""
    if size <= 0 or size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=gen)[:size].sort().values
