"""DSTGeH: deep self-taught graph embedding hashing with pseudo labels (two stages).

Liu, Wang, Song, Guo, Zhou, Xiao, "Deep self-taught graph embedding hashing with pseudo
labels for image retrieval", ICME 2020.

Stage 1 (Section 2.1): each node's row of the cosine adjacency matrix (Eq. 1) is embedded
by a Stacked AutoEncoder with phi = Tanh(varrho x) (Eq. 2), greedily pre-trained layer by
layer and then fine-tuned with L = alpha L_so + beta L_fo + gamma L_r (Eqs. 3-7); the codes
thresholded at 0 are pseudo labels (Eq. 8). Stage 2 (Section 2.2): an fc head (LeakyReLU +
BN layers, Eqs. 9-10; a last FC layer with sigmoid) learns the pseudo labels with BCE
(Eq. 11); bits are sigmoid >= 0.5 (Eq. 12). New images need only the head.

Deviations (CPU, frozen backbone; see docs/hashers/dstgeh.md):
- memory bound: adjacency rows against at most ``max_columns`` anchor nodes, computed per
  batch (exact paper rows when N <= ``max_columns``); the graph holds only the collection
  (the paper adds 50,000 sampled ImageNet images as "pre-trained data");
- mini-batch training of Eq. (7) with the unbiased batch scaling of
  ``_dstgeh_sae.batch_objective``;
- SAE widths, head widths, optimiser (Adam), learning rates, batch sizes and epoch caps are
  not given in the paper (the head's 256, 64 widths are NRDH's Table 2, same authors);
- by default the head is trained on frozen backbone features; the paper retrains a
  ResNet-18, available as ``fine_tune`` (see ``_two_stage``); features are centred and
  scaled by their global RMS before the head (``standardize``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from dhr_plugins.hashers._common.two_stage import FineTuneParams, TwoStageHasher
from dhr_sdk import QUIET, DhrError, FitData, Progress, check_features, hookimpl, pack_bits

if TYPE_CHECKING:  # torch and the networks load when the hasher fits or encodes
    import torch


class DSTGeHParams(FineTuneParams):
    n_bits: int = Field(64, description="Code length g (16-128, multiple of 8); also the SAE "
                                        "code dimension.")
    seed: int = Field(0, description="Seed of all randomness (init, anchors, shuffles).")
    varrho: float = Field(0.2, gt=0.0, le=1.0, description="Eq. (2) activation "
                                                           "Tanh(varrho x) (paper 0.2).")
    mu: float = Field(0.7, gt=0.0, le=1.0, description="Eq. (3) weight of the input "
                      "reconstruction vs the layer-wise term L_soh (paper 0.7).")
    alpha: float = Field(0.9, ge=0.0, le=1.0, description="Eq. (7) weight of L_so (paper 0.9).")
    beta: float = Field(0.099, ge=0.0, le=1.0, description="Eq. (7) weight of the first-order "
                                                           "term L_fo (paper 0.099).")
    gamma: float = Field(0.001, ge=0.0, le=1.0, description="Eq. (7) weight of the regulariser "
                                                            "L_r (paper 0.001).")
    sae_hidden: tuple[int, ...] = Field((512, 128), description="SAE hidden widths between "
                                        "the adjacency row and the g-dim code (not given in "
                                        "the paper).")
    max_columns: int = Field(4096, ge=2, description="Memory bound: adjacency rows use all N "
                             "nodes when N <= this (paper), else this many sampled anchors.")
    pretrain_epochs: int = Field(5, ge=0, description="Greedy layer-wise SAE pre-training "
                                                      "epochs per layer (CPU cap).")
    sae_epochs: int = Field(30, ge=1, description="Stage-1 fine-tuning epoch cap (CPU cap; the "
                                                  "paper trains to convergence).")
    sae_lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of stage 1 (not given).")
    sae_batch_size: int = Field(256, ge=2, description="Stage-1 rows per batch (not given; "
                                "Eq. 7 is scaled to the full graph, see docs).")
    reduction: Literal["sum", "mean"] = Field(
        "mean", description="Eq. (7) as written over all N nodes ('sum', estimated per batch) "
        "or with L_so averaged over rows and L_fo over pairs ('mean'; default, the literal "
        "sums collapse every code to one on pixel features, see docs).")
    center: bool = Field(True, description="Cosines of Eq. (1) on mean-centred features (not "
                         "in the paper; on non-negative features every row is nearly the same "
                         "and Eq. (8) gives one code for all, see docs).")
    head_hidden: tuple[int, ...] = Field((256, 64), description="Hidden fc widths of the hash "
                                         "head (not given; NRDH's Table 2).")
    leaky_slope: float = Field(0.2, ge=0.0, lt=1.0, description="Eq. (10) LeakyReLU lambda "
                                                                "(paper 0.2).")
    head_epochs: int = Field(60, ge=1, description="Stage-2 epoch cap (CPU cap).")
    head_lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of stage 2 (not given).")
    head_batch_size: int = Field(128, ge=2, description="Stage-2 mini-batch size (not given).")
    tol: float = Field(1e-4, ge=0.0, description="Convergence: stop a stage when the epoch "
                                                 "loss changes by at most tol (relative).")
    standardize: bool = Field(True, description="Centre the features and divide them by their "
                              "global RMS before the head (not in the paper; any backbone "
                              "scale works).")

    @model_validator(mode="after")
    def _weights(self) -> DSTGeHParams:
        total = self.alpha + self.beta + self.gamma
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"alpha, beta and gamma must sum to 1 (paper), got {total:g}")
        return self


class DSTGeHHasher(TwoStageHasher):
    """DSTGeH (ICME 2020): SAE graph-embedding pseudo labels taught to an fc hash head."""

    name: ClassVar[str] = "dstgeh"
    summary: ClassVar[str] = "DSTGeH: second-order graph embedding pseudo labels + BCE head"
    Params: ClassVar[type[DSTGeHParams]] = DSTGeHParams
    final_bn: ClassVar[bool] = False
    conformance_params: ClassVar[dict[str, object]] = {
        "n_bits": 16, "sae_hidden": (32,), "pretrain_epochs": 1, "sae_epochs": 2,
        "head_epochs": 3}

    params: DSTGeHParams

    def fit(self, data: FitData, progress: Progress = QUIET) -> DSTGeHHasher:
        """Stage 1 (pseudo labels from the adjacency rows) then stage 2 (BCE head)."""
        import torch

        from dhr_plugins.hashers._common.torch_utils import seeded, standardizer

        p = self.params
        x = check_features(data.features, self.name, dtype=np.float32, min_rows=1)
        n, d = x.shape
        if n < 2:
            raise DhrError("dstgeh needs at least 2 images to build its graph")
        mean, scale = standardizer(x)
        graph_x = x - mean if p.center else x
        if not p.standardize:
            mean, scale = np.zeros(d, np.float32), np.ones(d, np.float32)
        with seeded(self.seed) as gen:
            labels, hist1 = self._stage1(torch.from_numpy(graph_x), gen, progress)
            progress.log(f"dstgeh: stage 2, fc hash head on {n} pseudo labels")
            head, hist2 = self._train_stage2(torch.from_numpy((x - mean) / scale), labels,
                                             bce_loss, data.images, mean, scale, gen, progress)
        self.mean_, self.scale_, self.head_ = mean, scale, head
        self.in_dim_ = d
        self.history_ = {"stage1": np.asarray(hist1),
                         **{k: np.asarray(v) for k, v in hist2.items()}}
        return self

    def _stage1(self, x: torch.Tensor, gen: torch.Generator,
                progress: Progress) -> tuple[torch.Tensor, list[float]]:
        """Pre-train and fine-tune the SAE on adjacency rows; return pseudo labels (Eq. 8)."""
        import torch

        from dhr_plugins.hashers._common.torch_utils import batches, train_epochs
        from dhr_plugins.hashers.dstgeh.sae import (
            StackedAutoEncoder,
            adjacency_rows,
            batch_objective,
            choose_anchors,
            pretrain_layer_loss,
            unit_rows,
        )

        p = self.params
        n = x.shape[0]
        unit = unit_rows(x)
        anchors = unit[choose_anchors(n, p.max_columns, gen)]
        a = anchors.shape[0]
        progress.log(f"dstgeh: stage 1, SAE on {n} adjacency rows x {a} "
                     f"{'nodes' if a == n else 'sampled anchors'}")
        model = StackedAutoEncoder(a, p.sae_hidden, p.n_bits, p.varrho)
        batch = min(p.sae_batch_size, n)

        def rows(idx: torch.Tensor) -> torch.Tensor:
            return adjacency_rows(unit[idx], anchors)               # Eq. (1)

        for m in range(1, model.n_layers + 1):  # SAE-style greedy pre-training
            params = [*model.encoder[m - 1].parameters(), *model.decoder[m - 1].parameters()]
            opt = torch.optim.Adam(params, lr=p.sae_lr)

            def pre_epoch(_: int, m: int = m, opt: torch.optim.Optimizer = opt) -> float:
                total = 0.0
                for idx in batches(n, batch, gen):
                    with torch.no_grad():
                        inputs = rows(idx) if m == 1 else model.encode(rows(idx))[m - 2]
                    loss = pretrain_layer_loss(model, m, inputs)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                return total / n

            if p.pretrain_epochs:
                train_epochs(pre_epoch, p.pretrain_epochs, p.tol, progress,
                             f"dstgeh pre-train layer {m}/{model.n_layers}")

        opt = torch.optim.Adam(model.parameters(), lr=p.sae_lr)

        def epoch(_: int) -> float:
            total = 0.0
            for idx in batches(n, batch, gen):
                u_pairs = unit[idx] @ unit[idx].T                   # Eq. (1) within the batch
                loss, _h = batch_objective(model, rows(idx), u_pairs, n, p.mu, p.alpha,
                                           p.beta, p.gamma, p.reduction)  # Eq. (7)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            return total / n  # Eq. (7) estimate per node

        hist = train_epochs(epoch, p.sae_epochs, p.tol, progress, "dstgeh stage 1")
        codes = torch.empty(n, p.n_bits)
        with torch.no_grad():
            for idx in batches(n, batch, shuffle=False):
                codes[idx] = model.encode(rows(idx))[-1]
        return (codes >= 0).to(torch.float32), hist                 # Eq. (8)

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Eq. (12): bit p is 1 iff sigmoid(logit_p) >= 0.5, i.e. logit_p >= 0; no graph."""
        from dhr_plugins.hashers._common.torch_utils import predict

        self.check_fitted()
        x = check_features(features, self.name, self.in_dim_, dtype=np.float32, min_rows=1)
        logits = predict(self.head_, (x - self.mean_) / self.scale_)
        return pack_bits((logits >= 0).numpy().astype(np.uint8))


def bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. (11): -sum_p h^p log H^p + (1 - h^p) log(1 - H^p) with H = sigmoid(logits).

    Summed over the g bits and averaged over the batch; computed from the logits (the same
    value as BCE on the sigmoid, without its overflow for saturated outputs).
    """
    import torch

    per_bit = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, labels, reduction="none")
    return per_bit.sum(dim=1).mean()


@hookimpl
def register_hashers(register: Any) -> None:
    register(DSTGeHHasher)
