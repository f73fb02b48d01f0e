"""NRDH: unsupervised deep hashing with node representation (two stages).

Wang, Song, Zhou, Liu, "Unsupervised deep hashing with node representation for image
retrieval", Pattern Recognition 112 (2021) 107785.

Stage 1 (Section 3.1): batches of M nodes form a graph (cosine, Eq. 2; binarised at rho,
Eq. 3; re-weighted with p, Eq. 4) and a GCN AutoEncoder (Eq. 5, Table 1) is trained with
L_1 = alpha L_r + beta L_w (Eqs. 6-8); its g-dimensional outputs are the node
representations g(x). Stage 2 (Section 3.2): an fc head (Table 2: LeakyReLU+BN, LeakyReLU+BN,
BN+Tanh) is trained with L_2 = mu L_fc + omega L_fch (Eqs. 13-18); bits are fch >= 0
(Eq. 19). New images are encoded by the head alone, without any graph.

Deviations (CPU, frozen backbone; see docs/hashers/nrdh.md):
- by default the head is trained on frozen backbone features; the paper retrains a ResNet-18
  with these fc layers, available as ``fine_tune`` (see ``_two_stage``);
- the first GCN layer and the head adapt to the feature dimension (paper: 2048);
- features are centred and scaled by their global RMS before both networks
  (``standardize``); the graph's cosines use the raw features, as in Eq. (2);
- the epochs are capped (``gcn_epochs``, ``head_epochs``) besides the convergence rule
  (relative change of the epoch loss <= ``tol``); optimiser (Adam), learning rates, stage-2
  batch size and LeakyReLU slope are not given in the paper (slope 0.2 as in DSTGeH, same
  authors);
- Eq. (4)'s neighbour sum excludes the node itself and Eq. (17) applies the BCE to
  (fch + 1) / 2 (see ``_nrdh_gcn`` and ``_nrdh_stage2``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from dhr_plugins.hashers._common.checks import check_sum_to_one
from dhr_plugins.hashers._common.two_stage import FineTuneParams, TwoStageHasher
from dhr_sdk import QUIET, DhrError, FitData, Progress, check_features, hookimpl, pack_bits

if TYPE_CHECKING:  # torch and the networks load when the hasher fits or encodes
    import torch


class NRDHParams(FineTuneParams):
    n_bits: int = Field(64, description="Code length g (16-128, multiple of 8); also the GCN "
                                        "output dimension.")
    seed: int = Field(0, description="Seed of all randomness (init, batch graphs, shuffles).")
    nodes_per_graph: int = Field(10, ge=2, description="M: nodes per batch graph (paper 10).")
    rho: float = Field(0.4, ge=0.0, le=1.0, description="Eq. (3) threshold binarising the "
                                                         "cosine correlations (paper 0.4).")
    p: float = Field(0.8, ge=0.0, le=1.0, description="Eq. (4) weight of a node on itself; "
                                                       "1-p goes to its neighbours (paper 0.8).")
    alpha: float = Field(0.999, ge=0.0, le=1.0, description="Eq. (8) weight of the "
                                                              "reconstruction loss (paper 0.999).")
    beta: float = Field(0.001, ge=0.0, le=1.0, description="Eq. (8) weight of the weight "
                                                             "regulariser (paper 0.001).")
    gcn_hidden: tuple[int, ...] = Field((64, 64), description="Table 1 hidden GCN widths "
                                        "(paper 2048->64->64->g; input adapts to the features).")
    mu: float = Field(0.8, ge=0.0, le=1.0, description="Eq. (18) weight of L_fc (paper 0.8).")
    omega: float = Field(0.2, ge=0.0, le=1.0, description="Eq. (18) weight of L_fch "
                                                           "(paper 0.2).")
    head_hidden: tuple[int, ...] = Field((256, 64), description="Table 2 hidden fc widths "
                                         "(paper 256, 64; input = feature dimension).")
    leaky_slope: float = Field(0.2, ge=0.0, lt=1.0, description="Eq. (10) LeakyReLU lambda "
                               "(not given for NRDH; 0.2 as in DSTGeH by the same authors).")
    gcn_epochs: int = Field(30, ge=1, description="Stage-1 epoch cap (CPU deviation: the paper "
                                                  "trains until convergence).")
    head_epochs: int = Field(60, ge=1, description="Stage-2 epoch cap (CPU deviation).")
    tol: float = Field(1e-3, ge=0.0, description="Convergence: stop a stage when the epoch "
                                                 "loss changes by at most tol (relative).")
    gcn_lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of stage 1 "
                                                     "(not given in the paper).")
    head_lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of stage 2 "
                                                      "(not given in the paper).")
    head_batch_size: int = Field(128, ge=2, description="Stage-2 mini-batch size "
                                                        "(not given in the paper).")
    standardize: bool = Field(True, description="Centre the features and divide them by "
                                                "their global RMS before the networks (not in "
                                                "the paper; makes any backbone scale work).")

    @model_validator(mode="after")
    def _weights(self) -> NRDHParams:
        check_sum_to_one(self.alpha, self.beta, "alpha and beta")
        check_sum_to_one(self.mu, self.omega, "mu and omega")
        return self


class NRDHHasher(TwoStageHasher):
    """NRDH (Pattern Recognition 2021): GCN-AE node representations guide an fc hash head."""

    name: ClassVar[str] = "nrdh"
    summary: ClassVar[str] = "NRDH: GCN AutoEncoder node representations + fc hash head"
    Params: ClassVar[type[NRDHParams]] = NRDHParams
    final_bn: ClassVar[bool] = True
    conformance_params: ClassVar[dict[str, object]] = {
        "n_bits": 16, "gcn_epochs": 2, "head_epochs": 3}

    params: NRDHParams

    def fit(self, data: FitData, progress: Progress = QUIET) -> NRDHHasher:
        """Stage 1 (GCN-AE node representations) then stage 2 (fc head)."""
        import torch

        from dhr_plugins.hashers._common.torch_utils import seeded, standardizer
        from dhr_plugins.hashers.nrdh.stage2 import stage2_loss

        p = self.params
        x = check_features(data.features, self.name, dtype=np.float32, min_rows=1)
        n, d = x.shape
        if n < 2:
            raise DhrError("nrdh needs at least 2 images to build its batch graphs")
        mean, scale = standardizer(x) if p.standardize else (
            np.zeros(d, np.float32), np.ones(d, np.float32))
        raw = torch.from_numpy(x)
        xs = torch.from_numpy((x - mean) / scale)
        with seeded(self.seed) as gen:
            progress.log(f"nrdh: stage 1, GCN AutoEncoder on {n} nodes ({d}-d features)")
            node_repr, hist1 = self._stage1(raw, xs, gen, progress)
            progress.log("nrdh: stage 2, fc hash head")
            head, hist2 = self._train_stage2(
                xs, node_repr, lambda out, t: stage2_loss(out, t, p.mu, p.omega),
                data.images, mean, scale, gen, progress)
        self.mean_, self.scale_, self.head_ = mean, scale, head
        self.in_dim_ = d
        self.history_ = {"stage1": np.asarray(hist1),
                         **{k: np.asarray(v) for k, v in hist2.items()}}
        return self

    def _stage1(self, raw: torch.Tensor, xs: torch.Tensor, gen: torch.Generator,
                progress: Progress) -> tuple[torch.Tensor, list[float]]:
        """Train the GCN-AE on batch graphs; return g(x) for every node and the losses."""
        import torch

        from dhr_plugins.hashers._common.torch_utils import batches, train_epochs
        from dhr_plugins.hashers.nrdh.gcn import GCNAutoEncoder, correlation_matrix, stage1_loss

        p = self.params
        n, d = xs.shape
        model = GCNAutoEncoder(d, p.gcn_hidden, p.n_bits)
        opt = torch.optim.Adam(model.parameters(), lr=p.gcn_lr)

        def epoch(_: int) -> float:
            model.train()
            total, count = 0.0, 0
            for idx in batches(n, p.nodes_per_graph, gen):
                adj = correlation_matrix(raw[idx], p.rho, p.p)     # Eqs. (2)-(4)
                loss, _z = stage1_loss(model, xs[idx], adj, p.alpha, p.beta)  # Eq. (8)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            return total / count

        hist = train_epochs(epoch, p.gcn_epochs, p.tol, progress, "nrdh stage 1")
        model.eval()
        out = torch.empty(n, p.n_bits)
        with torch.no_grad():  # g(x): each node in one batch graph of M nodes
            for idx in batches(n, p.nodes_per_graph, gen):
                out[idx] = model.encode(xs[idx], correlation_matrix(raw[idx], p.rho, p.p))
        return out, hist

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Eq. (19) on the head's output: packed codes, no graph needed."""
        from dhr_plugins.hashers._common.torch_utils import predict
        from dhr_plugins.hashers.nrdh.stage2 import code_bits

        self.check_fitted()
        x = check_features(features, self.name, self.in_dim_, dtype=np.float32, min_rows=1)
        fc = predict(self.head_, (x - self.mean_) / self.scale_)
        return pack_bits(code_bits(fc).numpy())


@hookimpl
def register_hashers(register: Any) -> None:
    register(NRDHHasher)
