"""GAH: GCN-AutoEncoder Hashing, semi-supervised (DHR-DQA paper, section 4).

Five modules (Fig. 5b), each mapped to code:

1. Image representation (4.2): frozen backbone features + a trainable fc/ReLU layer
   (:class:`._gah_net.ImageRepresentation`) standing for the fine-tuned ResNet-101 conv5_x
   and global max pooling (the backbone plugin already pools).
2. Label co-occurrence embedding (4.1, 4.3): A_ij = P(r_j | r_i) from the labeled training
   set, Â = D̃^-½(A + I)D̃^-½, GCN layers over label word vectors V(r)
   (:mod:`._gah_graph`; word vectors from :mod:`._gah_words`: MiniLM / file / learned / onehot).
3. MFB (4.4, Eq. 2): Z = sum-pool_k(Ũᵀx̃ ∘ ṼᵀE(r)), then the fch layer R → K (:mod:`._gah_net`).
4. Supervised hash learning (4.5): Cauchy cross-entropy (Eq. 5, class-balance ω_ij, γ=0.15)
   and Cauchy quantisation (Eq. 6), L = λL_cce + (1−λ)L_cq, on pairs of the labeled set with
   s_ij = 1 when the label sets intersect (:mod:`._gah_loss`).
5. Decoder (4.6): h → M̄4 → M̄3 → M̄1 → x̄_gmp → x̄, Eq. (7) reconstruction, Eq. (8)
   regulariser, Eq. (9) L = αL_r + βL_f on the unlabeled dark data.

Training alternates TP-A (labeled ``FitData.train_*``) and TP-B (the dark ``FitData.features``)
as in :mod:`._gah_train`. Codes are sgn(Z̃) of the fch output (bit 1 where Z̃ > 0, the
paper's sgn). Encoding needs only features and the stored network: E(r) is fixed after
training and saved in the state.

Deviations (CPU, offline; all documented in docs/hashers/gah.md):
- no end-to-end CNN fine-tuning; the backbone is a frozen feature extractor;
- the decoder reconstructs the (standardised) input features by default; the paper's
  deconvolution decoder to pixels is ``recon_target="pixels"`` with ``image_shape`` and is
  only meaningful when the features are the pixels (the ``pixels`` backbone);
- λ, κ, α, β, k, the GCN widths, learning rates and epochs are not given in the paper; the
  defaults are stated per field; TPs and epochs per stage are capped (``max_tps``,
  ``max_stage_epochs``);
- δ defaults to (1 − cos)/2 (``delta_unit="normalized"``) so the paper's γ = 0.15 is a
  fraction of K; the literal K/2·(1 − cos) is ``delta_unit="bits"``;
- each Eq. (7) term is divided by its target's energy (``recon_normalize``) and M3/M4 are
  detached targets; TP-B fine-tunes only the image layer, at ``finetune_lr_scale`` × lr;
- inputs are standardised (per-feature mean, one global scale) before the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from dhr_sdk import (
    QUIET,
    DhrError,
    FitData,
    Hasher,
    HasherParams,
    Progress,
    check_features,
    hookimpl,
    pack_bits,
)

if TYPE_CHECKING:  # torch and the networks load when the hasher fits or encodes
    import torch

    from dhr_plugins.hashers.gah import train as T


class GAHParams(HasherParams):
    n_bits: int = Field(64, description="Code length K (multiple of 8; paper: 16-128, 64 best).")
    seed: int = Field(0, description="Seed of initialisation, batches and dark sampling.")
    word_vectors: Literal["minilm", "file", "learned", "onehot"] = Field(
        "minilm", description="Label word vectors V(r): 'minilm' (packaged all-MiniLM-L6-v2 "
        "embeddings of the class names; the paper uses GloVe), 'file' (word_vectors_path), "
        "'learned' (trainable), 'onehot' (identity, no dependency).")
    word_vectors_path: str = Field(
        "", description="For word_vectors='file': GloVe text file, .npz with 'names' and "
        "'vectors', or .npy (R, d) in label order.")
    word_dim: int = Field(300, ge=1, description="Dimension of 'learned' word vectors "
                                                 "(GloVe's 300).")
    cooccurrence: bool = Field(True, description="Build A from the training labels' "
                               "co-occurrence (section 4.1); False = A = 0, Â = I (ablation).")
    gcn_dims: tuple[int, ...] = Field((1024, 2048), min_length=1, description="Output width of "
                                      "each GCN layer (ML-GCN: 1024, 2048); the last is D(E(r)).")
    image_dim: int = Field(2048, ge=0, description="D(x̃): width of the trainable image layer "
                           "on the frozen backbone (ResNet-101 GMP: 2048); 0 = x̃ is the feature.")
    mfb_k: int = Field(5, ge=1, description="MFB latent dimensionality k (MFB paper: 5).")
    gamma: float = Field(0.15, gt=0, description="Cauchy scale γ of Eq. (3)-(6) (paper: 0.15), "
                         "in the unit of delta_unit.")
    delta_unit: Literal["normalized", "bits"] = Field(
        "normalized", description="Unit of δ: 'normalized' (1-cos)/2, the fraction of differing "
        "bits (γ=0.15 = 0.15·K bits), or 'bits' K/2·(1-cos) as written in section 4.5.")
    lam: float = Field(0.9, ge=0, le=1, description="λ in L = λL_cce + (1-λ)L_cq (not given; "
                       "0.9 mirrors DCH's quantisation weight 0.1).")
    kappa: tuple[float, float, float] = Field(
        (0.3, 0.3, 0.4), description="κ1, κ2, κ3 of Eq. (7) for M3, M4 and x (sum 1; not given).")
    recon_normalize: bool = Field(True, description="Divide each Eq. (7) term by the mean "
                                  "squared norm of its target (relative error; the paper's "
                                  "plain sum explodes as TP-A scales M3/M4 up).")
    alpha: float = Field(0.0001, ge=0, le=1, description="α of Eq. (9), weight of the "
                         "regulariser Eq. (8) (α + β = 1; not given).")
    beta: float = Field(0.9999, ge=0, le=1, description="β of Eq. (9), weight of the "
                        "reconstruction Eq. (7).")
    recon_target: Literal["features", "pixels"] = Field(
        "features", description="What x̄ reconstructs: the input features (CPU default) or "
        "pixels through the deconvolution decoder (needs image_shape; features must be pixels).")
    image_shape: tuple[int, ...] = Field((), description="(C, H, W) of the pixel features, "
                                         "for recon_target='pixels' (e.g. [1, 28, 28]).")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    finetune_lr_scale: float = Field(0.001, ge=0, description="TP-B learning-rate factor for "
                                     "fine-tuning the image layer θ (the decoder uses lr).")
    batch_size: int = Field(128, ge=2, description="Mini-batch size (pairs are formed within it).")
    max_tps: int = Field(3, ge=1, description="Cap on training processes TP = TP-A + TP-B.")
    max_stage_epochs: int = Field(10, ge=1, description="Cap on epochs per stage within a TP.")
    stage_tol: float = Field(0.002, ge=0, description="A stage has converged when its loss "
                             "changes by at most this fraction between consecutive epochs.")
    tp_epochs_threshold: int = Field(3, ge=1, description="Stop once a TP needs fewer epochs "
                                     "than this (section 4's convergence rule).")
    dark_sample: int = Field(5000, ge=0, description="Dark images sampled per TP for TP-B "
                             "(0 = all).")
    standardize: bool = Field(True, description="Centre features and divide by one global "
                              "scale before the network.")

    @model_validator(mode="after")
    def _consistent(self) -> GAHParams:
        if abs(sum(self.kappa) - 1.0) > 1e-6 or min(self.kappa) < 0:
            raise ValueError("kappa must be three non-negative weights that sum to 1")
        if abs(self.alpha + self.beta - 1.0) > 1e-6:
            raise ValueError("alpha + beta must equal 1 (Eq. 9)")
        if self.recon_target == "pixels" and (len(self.image_shape) != 3
                                              or min(self.image_shape) < 1):
            raise ValueError("recon_target='pixels' needs image_shape = [C, H, W]")
        if min(self.gcn_dims) < 1:
            raise ValueError("gcn_dims must be positive")
        return self


class GAHHasher(Hasher):
    """GCN-AutoEncoder Hashing: labeled TP-A + unlabeled TP-B, Cauchy losses, MFB fusion."""

    name: ClassVar[str] = "gah"
    summary: ClassVar[str] = ("GCN-AutoEncoder hashing (semi-supervised: labeled training "
                              "set + dark data)")
    Params: ClassVar[type[GAHParams]] = GAHParams
    params: GAHParams
    requires: ClassVar[frozenset[str]] = frozenset({"train"})
    conformance_params: ClassVar[dict[str, Any]] = {
        "n_bits": 16, "word_vectors": "onehot", "gcn_dims": [32], "image_dim": 32,
        "max_tps": 1, "max_stage_epochs": 2, "batch_size": 32}

    # ---------------------------------------------------------------- fitting
    def fit(self, data: FitData, progress: Progress = QUIET) -> GAHHasher:
        import torch

        from dhr_plugins.hashers._common.torch_utils import seeded
        from dhr_plugins.hashers.gah import train as T
        from dhr_plugins.hashers.gah.graph import cooccurrence_matrix, normalized_adjacency
        from dhr_plugins.hashers.gah.words import word_vectors

        p = self.params
        if data.train_features is None or data.train_labels is None:
            raise DhrError("gah needs a labeled training set (train features and labels) "
                           "besides the dark collection")
        dark = check_features(data.features, self.name)
        train = check_features(data.train_features, self.name, dark.shape[1])
        labels = np.asarray(data.train_labels) > 0
        if labels.ndim != 2 or labels.shape[0] != train.shape[0] or labels.shape[1] < 1:
            raise DhrError(f"gah: training labels must be multi-hot ({train.shape[0]}, R), "
                           f"got {labels.shape}")
        if not labels.any(axis=1).all():
            raise DhrError("gah: every training image needs at least one label")
        if p.recon_target == "pixels" and int(np.prod(p.image_shape)) != dark.shape[1]:
            raise DhrError(f"gah: image_shape {list(p.image_shape)} does not match the "
                           f"{dark.shape[1]}-d features (pixel reconstruction needs pixels)")
        names = self._label_names(data, labels.shape[1])
        with seeded(self.seed) as gen:
            mean, scale = self._standardizer(np.concatenate([train, dark]))
            words = word_vectors(p.word_vectors, names, path=p.word_vectors_path,
                                 word_dim=p.word_dim, seed=self.seed)
            a = cooccurrence_matrix(labels) if p.cooccurrence else np.zeros((labels.shape[1],) * 2)
            adjacency = normalized_adjacency(a)
            net = self._network(dark.shape[1], words, adjacency)
            xa = self._tensor(train, mean, scale)
            xb = self._tensor(dark, mean, scale)
            progress.log(f"gah: {train.shape[0]} labeled images, {labels.shape[1]} labels, "
                         f"{dark.shape[0]} dark images, {self.n_bits} bits")
            history = T.train(net, xa, torch.as_tensor(labels, dtype=torch.float32), xb, xb,
                              self._train_config(), gen, progress)
            with torch.no_grad():
                emb = net.embeddings()
        self.history_ = history
        self.label_names_ = names
        self._set(net, emb, mean, scale)
        return self

    def _label_names(self, data: FitData, n_labels: int) -> list[str]:
        if len(data.label_names) == n_labels:
            return list(data.label_names)
        if data.label_names:
            raise DhrError(f"gah: {len(data.label_names)} label names for {n_labels} label "
                           "columns")
        if self.params.word_vectors in ("minilm", "file"):
            raise DhrError(f"gah: word_vectors={self.params.word_vectors!r} needs the class "
                           "names of the training labels")
        return [f"class{i}" for i in range(n_labels)]

    def _standardizer(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        if not self.params.standardize:
            return np.zeros(x.shape[1]), 1.0
        mean = x.mean(axis=0)
        scale = float(np.sqrt(((x - mean) ** 2).mean()))
        return mean, scale if scale > 0 else 1.0

    @staticmethod
    def _tensor(x: np.ndarray, mean: np.ndarray, scale: float) -> torch.Tensor:
        import torch

        return torch.as_tensor((x - mean) / scale, dtype=torch.float32)

    def _network(self, in_dim: int, words: np.ndarray, adjacency: np.ndarray) -> T.GAHNetwork:
        from dhr_plugins.hashers.gah import train as T

        p = self.params
        return T.GAHNetwork(
            in_dim=in_dim, words=words, adjacency=adjacency,
            learn_words=p.word_vectors == "learned", gcn_dims=p.gcn_dims,
            image_dim=p.image_dim, k=p.mfb_k, n_bits=self.n_bits,
            pixel_shape=p.image_shape if p.recon_target == "pixels" else ())

    def _train_config(self) -> T.TrainConfig:
        from dhr_plugins.hashers.gah import train as T

        p = self.params
        return T.TrainConfig(
            gamma=p.gamma, delta_unit=p.delta_unit, lam=p.lam, kappa=p.kappa,
            recon_normalize=p.recon_normalize, alpha=p.alpha,
            beta=p.beta, lr=p.lr,
            finetune_lr_scale=p.finetune_lr_scale, batch_size=p.batch_size, max_tps=p.max_tps,
            max_stage_epochs=p.max_stage_epochs, stage_tol=p.stage_tol,
            tp_epochs_threshold=p.tp_epochs_threshold, dark_sample=p.dark_sample)

    def _set(self, net: T.GAHNetwork, emb: torch.Tensor, mean: np.ndarray,
             scale: float) -> None:
        self.network_ = net.eval()
        self.embeddings_ = emb.detach().clone()
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.scale_ = float(scale)

    # --------------------------------------------------------------- encoding
    def continuous_codes(self, features: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Z̃, the fch output (n, K) before sgn; codes are Z̃ > 0."""
        import torch

        self.check_fitted()
        x = check_features(features, self.name, self.mean_.shape[0])
        out = []
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                xt = self._tensor(x[start:start + batch_size], self.mean_, self.scale_)
                out.append(self.network_.encoder(xt, self.embeddings_).z_tilde)
        return torch.cat(out).numpy() if out else np.zeros((0, self.n_bits), np.float32)

    def encode(self, features: np.ndarray) -> np.ndarray:
        import torch

        from dhr_plugins.hashers._common.torch_utils import sign_codes

        z = self.continuous_codes(features)
        return pack_bits(sign_codes(torch.from_numpy(z)))  # sgn: bit 1 where Z̃ > 0

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        from dhr_plugins.hashers._common.torch_utils import module_state

        self.check_fitted()
        return {**module_state(self.network_, "network"),
                "embeddings": self.embeddings_.numpy().copy(),
                "input/mean": self.mean_.copy(), "input/scale": np.array(self.scale_)}

    def set_state(self, state: dict[str, np.ndarray]) -> GAHHasher:
        import torch

        from dhr_plugins.hashers._common.torch_utils import load_module_state

        try:
            mean = np.asarray(state["input/mean"], dtype=np.float64)
            emb = torch.as_tensor(np.asarray(state["embeddings"], dtype=np.float32))
            words = np.asarray(state["network/words"], dtype=np.float32)
            adjacency = np.asarray(state["network/gcn.a_hat"], dtype=np.float32)
            net = self._network(mean.shape[0], words, adjacency)
            load_module_state(net, state, "network")
        except (KeyError, RuntimeError) as exc:
            raise DhrError(f"gah: stored state does not match these parameters ({exc})") from None
        self.history_ = []
        self.label_names_ = []
        self._set(net, emb, mean, float(np.asarray(state["input/scale"])))
        return self


@hookimpl
def register_hashers(register: Any) -> None:
    register(GAHHasher)
