"""The conformance checks, one small named function each (see :mod:`dhr_sdk.testing`).

Every check takes the plugin class and a scratch folder and raises ``AssertionError`` with
the plugin's name and what is wrong. :data:`CHECKS` lists them per kind, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dhr_sdk.core.errors import NotFittedError, ParamsError
from dhr_sdk.core.interfaces import Assessor, Backbone, GraphBuilder, Hasher, Plugin, Ranker
from dhr_sdk.core.params import HasherParams
from dhr_sdk.core.types import HashGraph, ImportanceList
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.store import Store
from dhr_sdk.store.provenance import provenance_of
from dhr_sdk.testing.reference import brute_force_graph, clustered_codes, synthetic_fit_data

CheckFn = Callable[[Any, Path], None]
KNOWN_INPUTS = frozenset({"labels", "tags", "train", "images"})


def make(cls: type[Plugin], **extra: Any) -> Any:
    """An instance with the class's ``conformance_params`` (plus ``extra``)."""
    return cls(**{**getattr(cls, "conformance_params", {}), **extra})


# ---------------------------------------------------------------- every kind

def params_described(cls: type[Plugin], tmp_path: Path) -> None:
    """A name, and a description for every parameter."""
    assert isinstance(cls.name, str) and cls.name, f"{cls} has no name"
    for key, info in cls.Params.model_fields.items():
        assert info.description, f"{cls.name}: param {key!r} has no description"


def params_forbid_unknown(cls: type[Plugin], tmp_path: Path) -> None:
    """``Params`` forbid extra keys, so a misspelled ``-p`` key is an error."""
    assert cls.Params.model_config.get("extra") == "forbid", f"{cls.name}: Params must forbid extra"
    try:
        cls(__not_a_param__=1)
    except ParamsError:
        return
    raise AssertionError(f"{cls.name}: unknown parameter was accepted")


def constructor_stores_params_only(cls: type[Plugin], tmp_path: Path) -> None:
    """The constructor learns nothing (no attribute ending in ``_``)."""
    inst = make(cls)
    assert not [k for k in vars(inst) if k.endswith("_")], \
        f"{cls.name}: the constructor must only store params (found learned state)"


COMMON: tuple[CheckFn, ...] = (params_described, params_forbid_unknown,
                               constructor_stores_params_only)


# ---------------------------------------------------------------- hashers

@lru_cache(maxsize=8)
def _fitted(cls: type[Hasher]) -> tuple[Hasher, np.ndarray]:
    """One fitted instance and its codes of the synthetic data, shared by the checks that
    only read them (fitting a deep hasher is the slow part)."""
    hasher = make(cls)
    hasher.fit(synthetic_fit_data())
    return hasher, hasher.encode(synthetic_fit_data().features)


def hasher_params_base(cls: type[Hasher], tmp_path: Path) -> None:
    """``Params`` derive from :class:`dhr_sdk.HasherParams` (``n_bits`` checked when built)."""
    assert issubclass(cls.Params, HasherParams), \
        f"{cls.name}: Params must derive from dhr_sdk.HasherParams"
    try:
        cls(**{**getattr(cls, "conformance_params", {}), "n_bits": 12})
    except ParamsError:
        return
    raise AssertionError(f"{cls.name}: n_bits=12 (not a multiple of 8) was accepted")


def required_inputs_known(cls: type[Hasher], tmp_path: Path) -> None:
    """``required_inputs()`` includes ``requires`` and names only known inputs."""
    inputs = make(cls).required_inputs()
    assert inputs >= cls.requires and inputs <= KNOWN_INPUTS, \
        f"{cls.name}: required_inputs() {sorted(inputs)} must include requires and name only " \
        f"{sorted(KNOWN_INPUTS)}"


def encode_before_fit_raises(cls: type[Hasher], tmp_path: Path) -> None:
    try:
        make(cls).encode(synthetic_fit_data().features)
    except NotFittedError:
        return
    raise AssertionError(f"{cls.name}: encode before fit must raise NotFittedError")


def fit_returns_self(cls: type[Hasher], tmp_path: Path) -> None:
    hasher = make(cls)
    assert hasher.fit(synthetic_fit_data()) is hasher, f"{cls.name}: fit must return self"


def codes_packed(cls: type[Hasher], tmp_path: Path) -> None:
    """Codes are packed ``uint8`` rows of ``n_bits // 8`` bytes, and not all identical."""
    hasher, codes = _fitted(cls)
    n = synthetic_fit_data().features.shape[0]
    assert codes.dtype == np.uint8 and codes.shape == (n, hasher.n_bits // 8), \
        f"{cls.name}: encode returned {codes.dtype} {codes.shape}"
    assert len(np.unique(codes, axis=0)) > 1, f"{cls.name}: all codes identical"


def fit_deterministic(cls: type[Hasher], tmp_path: Path) -> None:
    """Two fits with the same params (seed) give the same codes."""
    data = synthetic_fit_data()
    again = make(cls).fit(data).encode(data.features)
    assert np.array_equal(_fitted(cls)[1], again), \
        f"{cls.name}: not deterministic under a fixed seed"


def encode_batch_independent(cls: type[Hasher], tmp_path: Path) -> None:
    hasher, codes = _fitted(cls)
    one = hasher.encode(synthetic_fit_data().features[:1])
    assert np.array_equal(one, codes[:1]), f"{cls.name}: encoding depends on the batch"


def state_store_round_trip(cls: type[Hasher], tmp_path: Path) -> None:
    """The state saved as arrays in a store restores a hasher with the same codes."""
    hasher, codes = _fitted(cls)
    store = Store.create(tmp_path / f"{cls.name}-model.h5", overwrite=True)
    with store.edit() as w:
        w.write_model(HashModel(hasher, "none", {}).to_record())
    rec = store.read_model()
    restored = cls(cls.Params.model_validate(rec.params)).set_state(rec.state)
    assert np.array_equal(restored.encode(synthetic_fit_data().features), codes), \
        f"{cls.name}: codes differ after a store save/load round trip"


def backbone_state_arrays(cls: type[Hasher], tmp_path: Path) -> None:
    """``backbone_state()`` is None, or arrays when the hasher fine-tuned on images."""
    hasher, _ = _fitted(cls)
    tuned = hasher.backbone_state()
    assert tuned is None or ("images" in hasher.required_inputs() and all(
        isinstance(v, np.ndarray) for v in tuned.values())), \
        f"{cls.name}: backbone_state() must be None, or arrays when it fine-tuned on images"


HASHER: tuple[CheckFn, ...] = (hasher_params_base, required_inputs_known,
                               encode_before_fit_raises, fit_returns_self, codes_packed,
                               fit_deterministic, encode_batch_independent,
                               state_store_round_trip, backbone_state_arrays)


# ---------------------------------------------------------------- graph builders and rankers

def _graph(cls: type[GraphBuilder]) -> tuple[np.ndarray, HashGraph]:
    codes = clustered_codes(300, 32, 20, 0.03, seed=1)
    return codes, make(cls).build(codes, 32)


def graph_well_formed(cls: type[GraphBuilder], tmp_path: Path) -> None:
    """Every image on a node with its code; symmetric weights in (0, n_bits], no loops."""
    codes, g = _graph(cls)
    assert g.node_counts.sum() == 300 and g.image_nodes.shape == (300,)
    assert np.array_equal(g.node_codes[g.image_nodes], codes), f"{cls.name}: image_nodes wrong"
    adj = g.adjacency
    assert adj.shape == (g.n_nodes, g.n_nodes)
    assert abs(adj - adj.T).max() == 0, f"{cls.name}: adjacency not symmetric"
    assert adj.diagonal().sum() == 0, f"{cls.name}: self loops"
    assert adj.data.size == 0 or (adj.data.min() > 0 and adj.data.max() <= 32), \
        f"{cls.name}: edge weights outside (0, n_bits]"


def graph_deterministic(cls: type[GraphBuilder], tmp_path: Path) -> None:
    (_, g), (_, g2) = _graph(cls), _graph(cls)
    assert (g.adjacency != g2.adjacency).nnz == 0, f"{cls.name}: not deterministic"


def graph_store_round_trip(cls: type[GraphBuilder], tmp_path: Path) -> None:
    _, g = _graph(cls)
    store = Store.create(tmp_path / f"{cls.name}-graph.h5", overwrite=True)
    with store.edit() as w:
        w.write_graph(g, provenance_of(make(cls)))
    back = store.read_graph()
    assert (back.adjacency != g.adjacency).nnz == 0 and np.array_equal(
        back.node_codes, g.node_codes), f"{cls.name}: graph differs after a store round trip"


GRAPH_BUILDER: tuple[CheckFn, ...] = (graph_well_formed, graph_deterministic,
                                      graph_store_round_trip)


def _ranked(cls: type[Ranker]) -> tuple[HashGraph, Any]:
    graph = brute_force_graph(clustered_codes(200, 16, 12, 0.05, seed=2), 16, 2, merged=True)
    return graph, make(cls).rank(graph)


def scores_valid(cls: type[Ranker], tmp_path: Path) -> None:
    """One finite, non-negative score per node."""
    graph, res = _ranked(cls)
    assert res.node_scores.shape == (graph.n_nodes,), f"{cls.name}: not one score per node"
    assert np.isfinite(res.node_scores).all() and (res.node_scores >= 0).all(), \
        f"{cls.name}: scores must be finite and non-negative"


def rank_deterministic(cls: type[Ranker], tmp_path: Path) -> None:
    graph, res = _ranked(cls)
    assert np.array_equal(res.node_scores, make(cls).rank(graph).node_scores), \
        f"{cls.name}: not deterministic"


def rank_store_round_trip(cls: type[Ranker], tmp_path: Path) -> None:
    _, res = _ranked(cls)
    store = Store.create(tmp_path / f"{cls.name}-rank.h5", overwrite=True)
    with store.edit() as w:
        w.write_rank(res, provenance_of(make(cls)))
    back = store.read_rank()
    assert np.array_equal(back.node_scores, res.node_scores) and back.converged == res.converged, \
        f"{cls.name}: rank differs after a store round trip"


RANKER: tuple[CheckFn, ...] = (scores_valid, rank_deterministic, rank_store_round_trip)


# ---------------------------------------------------------------- assessors

def _toy_importance(n_bits: int = 16, seed: int = 3) -> ImportanceList:
    codes = np.unique(clustered_codes(120, n_bits, 8, 0.05, seed=seed), axis=0)
    m = codes.shape[0]
    return ImportanceList(n_bits, codes, np.linspace(2.0, 0.1, m), np.arange(1, m + 1),
                          np.ones(m, dtype=np.int64), np.arange(m + 1), np.arange(m))


def relevance_in_unit_interval(cls: type[Assessor], tmp_path: Path) -> None:
    """R in [0, 1], one entry per requirement image, matches at most the collection."""
    il = _toy_importance()
    a = make(cls).assess(il, il.codes[:3].copy())
    assert 0.0 <= a.relevance <= 1.0 and len(a.per_image) == 3, \
        f"{cls.name}: R {a.relevance} or {len(a.per_image)} per-image entries for 3 images"
    assert 0 <= a.matched_images <= il.n_images, f"{cls.name}: matched_images out of range"


def assess_deterministic(cls: type[Assessor], tmp_path: Path) -> None:
    il = _toy_importance()
    a, b = make(cls).assess(il, il.codes[:3].copy()), make(cls).assess(il, il.codes[:3].copy())
    assert a.relevance == b.relevance and a.score == b.score, f"{cls.name}: not deterministic"


def weights_accepted(cls: type[Assessor], tmp_path: Path) -> None:
    il = _toy_importance()
    w = make(cls).assess(il, il.codes[:3].copy(), np.array([1.0, 0.0, 0.0]))
    assert 0.0 <= w.relevance <= 1.0, f"{cls.name}: weighted R {w.relevance} outside [0, 1]"


def estimate_consistent(cls: type[Assessor], tmp_path: Path) -> None:
    """An estimate of the wanted amount (if any) is ordered and ranks the collection."""
    il = _toy_importance()
    a = make(cls).assess(il, il.codes[:3].copy())
    e = a.estimate
    if e is not None:
        assert 0.0 <= e.low <= e.count <= e.high <= e.n_images == il.n_images, \
            f"{cls.name}: estimate {e} is not low <= count <= high <= n_images"
        assert e.share == e.count / e.n_images and a.ranking_value() == e.count, \
            f"{cls.name}: share or ranking value disagrees with the count"


def assess_many_equals_assess(cls: type[Assessor], tmp_path: Path) -> None:
    """``assess_many`` over several lists (one of them twice) gives, in order, what
    ``assess`` gives on each list alone."""
    lists = [_toy_importance(16, 3), _toy_importance(16, 4), _toy_importance(16, 3)]
    codes = np.concatenate([lists[0].codes[:2], lists[1].codes[:2]])
    w = np.array([1.0, 2.0, 0.5, 1.0])
    assessor = make(cls)
    many = assessor.assess_many(lists, codes, w)
    alone = [make(cls).assess(il, codes, w) for il in lists]
    assert len(many) == len(lists), f"{cls.name}: {len(many)} answers for {len(lists)} lists"
    for k, (a, b) in enumerate(zip(many, alone, strict=True)):
        same = (a.relevance, a.score, a.rank, a.matched_images, a.estimate) == \
            (b.relevance, b.score, b.rank, b.matched_images, b.estimate)
        assert same, f"{cls.name}: assess_many differs from assess on list {k}"


ASSESSOR: tuple[CheckFn, ...] = (relevance_in_unit_interval, assess_deterministic,
                                 weights_accepted, estimate_consistent,
                                 assess_many_equals_assess)


# ---------------------------------------------------------------- backbones

@lru_cache(maxsize=4)
def _features(cls: type[Backbone]) -> tuple[Backbone, Any, Any]:
    import torch

    bb = make(cls)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8))
    x = torch.stack([bb.transform()(img), bb.transform()(img.convert("L").convert("RGB"))])
    net = bb.build("cpu")
    with torch.no_grad():
        return bb, net(x), net(x)


def features_shape(cls: type[Backbone], tmp_path: Path) -> None:
    """Any image size and mode gives ``(batch, output_dim)`` finite features."""
    import torch

    bb, y, _ = _features(cls)
    assert tuple(y.shape) == (2, bb.output_dim), f"{cls.name}: output {tuple(y.shape)}"
    assert torch.isfinite(y).all(), f"{cls.name}: non-finite features"


def features_deterministic(cls: type[Backbone], tmp_path: Path) -> None:
    import torch

    _, y1, y2 = _features(cls)
    assert torch.equal(y1, y2), f"{cls.name}: the network in eval mode is not deterministic"


BACKBONE: tuple[CheckFn, ...] = (features_shape, features_deterministic)

#: The checks of each kind, in the order they run.
CHECKS: dict[str, tuple[CheckFn, ...]] = {
    "hasher": COMMON + HASHER, "graph_builder": COMMON + GRAPH_BUILDER,
    "ranker": COMMON + RANKER, "assessor": COMMON + ASSESSOR, "backbone": COMMON + BACKBONE}
