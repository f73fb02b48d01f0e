"""LAGNH: Lightweight Augmented Graph Network Hashing (Cui et al., MM 2021; ``lagnh.md``).

Pipeline (equation numbers of the paper):

- auxiliary semantics Y: the collection's tags, label-free pseudo-tags
  (:mod:`._lagnh_tags`), label-free sparse visual-word tags of the training images
  (:mod:`._lagnh_words`) or both label-free sets side by side (the default without tags);
  evaluation labels (``FitData.labels``) are never read;
- cross-modal attention denoising, Eq. (1)–(2), and the augmented semantic graph
  ``S = mu S^v + S^a`` with a Gaussian kernel, Eq. (3)–(5), built per mini-batch
  (:mod:`._lagnh_net`);
- a two-layer GCN on ``D^-1/2 S D^-1/2`` (d' -> 1024 -> r), Eq. (6)–(7), trained with
  Eq. (8) quantisation, Eq. (9) similarity-graph reconstruction, Eq. (10) adversarial
  regularisation against a Gaussian prior (discriminator r -> 64 -> 32 -> 1) and Eq. (11)
  classification on the tags through a linear head r -> c, summed by Eq. (12)
  (:mod:`._lagnh_loss`, :mod:`._lagnh_train`);
- out-of-sample encoding against a stored anchor graph, Eq. (13) (:mod:`._lagnh_anchor`).

Deviations and choices where the paper is silent are listed in ``docs/hashers/lagnh.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from dhr_plugins.hashers.lagnh.tags import (
    check_tags,
    fit_pseudo_centres,
    pseudo_tags,
    resolve_source,
)
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
    from dhr_plugins.hashers.lagnh.anchor import AnchorGraph


class LagnhParams(HasherParams):
    """LAGNH hyper-parameters; defaults are the paper's MS COCO setting (section 4.2)."""

    n_bits: int = Field(64, description="Code length r (multiple of 8; the paper: 16-128).")
    seed: int = Field(0, description="Seed of initialisation, batches, k-means and anchors.")
    epochs: int = Field(60, ge=1, description="Training epochs. The paper trains 300; 60 is the "
                        "CPU cap (5,000 images: ~1.5 min instead of ~10, and better mAP in "
                        "docs/hashers/lagnh.md). Use 300 for the paper's schedule.")
    batch_size: int = Field(1024, ge=2, description="Mini-batch size; each batch is one graph "
                            "(paper: 1024 on MS COCO, 2048 on NUS-WIDE).")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate (paper: 1e-4).")
    lambda1: float = Field(100.0, ge=0, description="Weight of L_recons, Eq. (12) (paper: 100).")
    lambda2: float = Field(1.0, ge=0, description="Weight of L_quan, Eq. (12) (paper: 1).")
    lambda3: float = Field(1.0, ge=0, description="Weight of L_cl, Eq. (12) (paper: 1 on MS "
                           "COCO, 0.1 on NUS-WIDE).")
    k: float = Field(1.0, description="Scale k of S^a in the reconstruction Eq. (9) (paper: 1).")
    mu: float = Field(1.0, ge=0, description="Fusion factor mu of S = mu S^v + S^a, Eq. (5) "
                      "(paper: 1).")
    sigma: float | None = Field(None, gt=0, description="Gaussian kernel bandwidth of Eq. (3); "
                                "None: median distance between attentive features of the "
                                "batch (the paper does not give a value).")
    graph_neighbours: int | None = Field(
        10, ge=1, description="Keep each image's this many most similar images in S^v (kNN "
        "graph); None: the paper's dense Gaussian graph (nearly uniform in high dimension).")
    normalise_tags: bool = Field(True, description="Unit-normalise tag vectors in Eq. (4), so "
                                 "S^a is in [0, 1] like the [cos]_+ that Eq. (9) fits to it; "
                                 "False: the paper's raw inner product (up to #shared tags).")
    att_dim: int = Field(512, ge=1, description="d', dimension of the linear maps x̄, ȳ of "
                         "Eq. (1) (not given in the paper).")
    hidden: int = Field(1024, ge=1, description="Output size of GC layer 1 (Table 1: 1024 on "
                        "MS COCO, 2048 on NUS-WIDE).")
    tag_source: Literal["auto", "tags", "pseudo", "visual-words",
                        "pseudo+visual-words"] = Field(
        "auto", description="Auxiliary semantics: 'tags' = the collection's tags (FitData.tags), "
        "'pseudo' = label-free k-means pseudo-tags, 'visual-words' = label-free sparse "
        "detector-like tags: each training image's top tf-idf k-means words of its own patches "
        "(needs the images), 'pseudo+visual-words' = both, side by side, 'auto' = tags when "
        "given, else pseudo+visual-words when the training images are given, else pseudo.")
    pseudo_clusters: int = Field(128, ge=1, description="k-means centres = number of pseudo-tags.")
    pseudo_per_image: int = Field(1, ge=1, description="Pseudo-tags per image: its nearest "
                                  "k-means centres.")
    visual_words: int = Field(128, ge=1, description="tag_source='visual-words': k-means "
                              "centres over image patches = number of words.")
    words_per_image: int = Field(3, ge=1, description="tag_source='visual-words': each "
                                 "training image keeps its this many highest tf-idf words.")
    n_anchors: int = Field(1024, ge=1, description="Training images kept as the graph that new "
                           "images are encoded against (out-of-sample encoding).")
    query_tag_neighbours: int = Field(10, ge=1, description="With user tags, a new image's tags "
                                      "are the mean tags of this many most similar anchors.")


class LAGNH(Hasher):
    """Lightweight Augmented Graph Network Hashing (unsupervised, auxiliary semantics)."""

    name: ClassVar[str] = "lagnh"
    summary: ClassVar[str] = ("LAGNH (MM'21): tag-attentive features, augmented semantic graph, "
                              "adversarial GCN; collection tags, else label-free pseudo-tags + "
                              "visual words")
    Params: ClassVar[type[LagnhParams]] = LagnhParams
    # Tags are optional (pseudo-tag fallback), so nothing is strictly required.
    requires: ClassVar[frozenset[str]] = frozenset()
    conformance_params: ClassVar[dict[str, Any]] = {
        "n_bits": 16, "epochs": 3, "batch_size": 64, "att_dim": 32, "hidden": 64,
        "n_anchors": 64, "pseudo_clusters": 8}
    params: LagnhParams

    def required_inputs(self) -> frozenset[str]:
        """Visual-word tags are computed from the training images themselves; ``auto``
        asks for the images too (and falls back to pseudo-tags when they are not given)."""
        if self.params.tag_source == "auto" or "visual-words" in self.params.tag_source:
            return self.requires | {"images"}
        return self.requires

    # ---------------------------------------------------------------- fit
    def fit(self, data: FitData, progress: Progress = QUIET) -> LAGNH:
        """Learn from ``data.features`` and the auxiliary semantics (never ``data.labels``)."""
        import torch

        from dhr_plugins.hashers._common.torch_utils import seeded
        from dhr_plugins.hashers.lagnh.net import Discriminator, LagnhNet
        from dhr_plugins.hashers.lagnh.train import TrainConfig, train
        from dhr_plugins.hashers.lagnh.words import visual_word_tags

        p = self.params
        x = check_features(data.features, self.name, dtype=np.float32)
        source = resolve_source(p.tag_source, data.tags, data.images is not None)
        if p.tag_source == "auto" and source == "pseudo":
            progress.log("lagnh: no tags and no training images: pseudo-tags only")
        with seeded(self.seed) as gen:
            if source == "tags":
                assert data.tags is not None
                y = check_tags(data.tags)
                centres = None
                progress.log(f"lagnh: {y.shape[1]} tags from the collection")
            else:
                centres, y = None, np.zeros((x.shape[0], 0), dtype=np.float32)
                if source.startswith("pseudo"):
                    progress.log(f"lagnh: k-means pseudo-tags ({p.pseudo_clusters} centres)")
                    centres = fit_pseudo_centres(x, p.pseudo_clusters, self.seed)
                    y = pseudo_tags(x, centres, p.pseudo_per_image)
                if source.endswith("visual-words"):
                    assert data.images is not None
                    progress.log(f"lagnh: visual-word tags ({p.words_per_image} of "
                                 f"{p.visual_words} words per image)")
                    words = visual_word_tags(data.images, p.visual_words, p.words_per_image,
                                             self.seed)
                    y = np.concatenate([y, words], axis=1)
            net = LagnhNet(x.shape[1], y.shape[1], p.att_dim, p.hidden, self.n_bits)
            disc = Discriminator(self.n_bits)
            cfg = TrainConfig(epochs=p.epochs, batch_size=min(p.batch_size, x.shape[0]),
                              lr=p.lr, lambda1=p.lambda1, lambda2=p.lambda2, lambda3=p.lambda3,
                              k=p.k, mu=p.mu, sigma=p.sigma,
                              normalise_tags=p.normalise_tags,
                              neighbours=p.graph_neighbours)
            self.history_ = train(net, disc, x, y, cfg, gen, progress)
            m = min(p.n_anchors, x.shape[0])
            anchors = torch.randperm(x.shape[0], generator=gen)[:m].numpy()
        net.eval()
        self.net_ = net
        self.source_ = source
        self.centres_ = centres
        self.anchors_x_ = x[np.sort(anchors)]
        self.anchors_y_ = y[np.sort(anchors)]
        self.sigma_ = self._anchor_sigma()
        self._graph: AnchorGraph | None = None
        return self

    def _anchor_sigma(self) -> float:
        """Eq. (3)'s bandwidth for encoding: the fixed param, else the anchors' median."""
        import torch

        from dhr_plugins.hashers.lagnh.anchor import AnchorGraph
        from dhr_plugins.hashers.lagnh.net import median_bandwidth

        if self.params.sigma is not None:
            return float(self.params.sigma)
        with torch.no_grad():
            graph = AnchorGraph(self.net_, self.anchors_x_, self.anchors_y_, self.params.mu, 1.0,
                                self.params.normalise_tags, self.params.graph_neighbours)
            return median_bandwidth(graph.x_att)

    def _anchor_graph(self) -> AnchorGraph:
        from dhr_plugins.hashers.lagnh.anchor import AnchorGraph

        if getattr(self, "_graph", None) is None:
            p = self.params
            self._graph = AnchorGraph(self.net_, self.anchors_x_, self.anchors_y_, p.mu,
                                      self.sigma_, p.normalise_tags, p.graph_neighbours)
        assert self._graph is not None
        return self._graph

    # ---------------------------------------------------------------- encode
    def continuous_codes(self, features: np.ndarray) -> np.ndarray:
        """GCN outputs ``z`` (n, r) of new images against the anchor graph (before Eq. 13)."""
        self.check_fitted()
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.anchors_x_.shape[1]:
            raise DhrError(f"LAGNH was fitted on {self.anchors_x_.shape[1]}-d features, "
                           f"got shape {x.shape}")
        y_query = None
        if self.centres_ is not None:
            y_query = pseudo_tags(x, self.centres_, self.params.pseudo_per_image)
        return self._anchor_graph().encode_chunked(x, y_query, self.params.query_tag_neighbours)

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Eq. (13): ``b = sgn(z)``, packed (bit 1 where ``z > 0``)."""
        import torch

        from dhr_plugins.hashers._common.torch_utils import sign_codes

        return pack_bits(sign_codes(torch.from_numpy(self.continuous_codes(features))))

    # ---------------------------------------------------------------- state
    def get_state(self) -> dict[str, np.ndarray]:
        from dhr_plugins.hashers._common.torch_utils import module_state

        self.check_fitted()
        state = module_state(self.net_, "net")
        state.update({
            "anchors/x": self.anchors_x_, "anchors/y": self.anchors_y_,
            "sigma": np.array(self.sigma_, dtype=np.float64),
            "pseudo": np.array(self.centres_ is not None),
            "visual_words": np.array(self.source_.endswith("visual-words")),
        })
        if self.centres_ is not None:
            state["pseudo_centres"] = self.centres_
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> LAGNH:
        from dhr_plugins.hashers._common.torch_utils import load_module_state
        from dhr_plugins.hashers.lagnh.net import LagnhNet

        p = self.params
        try:
            ax = np.asarray(state["anchors/x"], dtype=np.float32)
            ay = np.asarray(state["anchors/y"], dtype=np.float32)
            pseudo = bool(np.asarray(state["pseudo"]))
            net = LagnhNet(ax.shape[1], ay.shape[1], p.att_dim, p.hidden, self.n_bits)
            load_module_state(net, state, "net")
            centres = np.asarray(state["pseudo_centres"], dtype=np.float32) if pseudo else None
            sigma = float(np.asarray(state["sigma"]))
        except (KeyError, RuntimeError) as exc:
            raise DhrError(f"LAGNH model state is incomplete or does not match its params: "
                           f"{exc}") from None
        net.eval()
        self.net_, self.centres_, self.sigma_ = net, centres, sigma
        words = bool(np.asarray(state.get("visual_words", False)))
        self.source_ = ("pseudo+visual-words" if pseudo and words else "pseudo" if pseudo
                        else "visual-words" if words else "tags")
        self.anchors_x_, self.anchors_y_ = ax, ay
        self._graph = None
        return self


@hookimpl
def register_hashers(register: Any) -> None:
    register(LAGNH)
