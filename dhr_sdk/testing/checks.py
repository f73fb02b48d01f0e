"""The conformance checks (see :mod:`dhr_sdk.testing`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dhr_sdk.core.errors import NotFittedError, ParamsError
from dhr_sdk.core.interfaces import (
    Assessor,
    Backbone,
    FitData,
    GraphBuilder,
    Hasher,
    Plugin,
    Ranker,
)
from dhr_sdk.core.types import ImportanceList
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.store import Store
from dhr_sdk.store.provenance import provenance_of
from dhr_sdk.testing.reference import brute_force_graph, clustered_codes, synthetic_fit_data


def _make(cls: type[Plugin], **extra: Any) -> Any:
    params = {**getattr(cls, "conformance_params", {}), **extra}
    return cls(**params)


def check_params(cls: type[Plugin]) -> None:
    """Name, kind, Params with descriptions and defaults; unknown keys rejected."""
    assert isinstance(cls.name, str) and cls.name, f"{cls} has no name"
    fields = cls.Params.model_fields
    for key, info in fields.items():
        assert info.description, f"{cls.name}: param {key!r} has no description"
    assert cls.Params.model_config.get("extra") == "forbid", f"{cls.name}: Params must forbid extra"
    try:
        cls(__not_a_param__=1)
    except ParamsError:
        pass
    else:
        raise AssertionError(f"{cls.name}: unknown parameter was accepted")
    inst = _make(cls)
    assert not [k for k in vars(inst) if k.endswith("_")], \
        f"{cls.name}: the constructor must only store params (found learned state)"


KNOWN_INPUTS = frozenset({"labels", "tags", "train", "images"})


def check_hasher(cls: type[Hasher], tmp_path: Path, data: FitData | None = None) -> None:
    """Fit/encode contract, determinism under a seed, use-before-fit, store round trip."""
    check_params(cls)
    data = data or synthetic_fit_data()
    hasher = _make(cls)
    inputs = hasher.required_inputs()
    assert inputs >= cls.requires and inputs <= KNOWN_INPUTS, \
        f"{cls.name}: required_inputs() {sorted(inputs)} must include requires and name only " \
        f"{sorted(KNOWN_INPUTS)}"
    try:
        hasher.encode(data.features)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{cls.name}: encode before fit must raise NotFittedError")
    assert hasher.fit(data) is hasher, f"{cls.name}: fit must return self"
    codes = hasher.encode(data.features)
    n_bytes = hasher.n_bits // 8
    assert codes.dtype == np.uint8 and codes.shape == (data.features.shape[0], n_bytes), \
        f"{cls.name}: encode returned {codes.dtype} {codes.shape}"
    assert len(np.unique(codes, axis=0)) > 1, f"{cls.name}: all codes identical"
    again = _make(cls).fit(data).encode(data.features)
    assert np.array_equal(codes, again), f"{cls.name}: not deterministic under a fixed seed"
    store = Store.create(tmp_path / f"{cls.name}-model.h5", overwrite=True)
    with store.edit() as w:
        w.write_model(HashModel(hasher, "none", {}).to_record())
    rec = store.read_model()
    restored = cls(cls.Params.model_validate(rec.params)).set_state(rec.state)
    assert np.array_equal(restored.encode(data.features), codes), \
        f"{cls.name}: codes differ after a store save/load round trip"
    one = hasher.encode(data.features[:1])
    assert np.array_equal(one, codes[:1]), f"{cls.name}: encoding depends on the batch"
    tuned = hasher.backbone_state()
    assert tuned is None or ("images" in inputs and all(
        isinstance(v, np.ndarray) for v in tuned.values())), \
        f"{cls.name}: backbone_state() must be None, or arrays when it fine-tuned on images"


def check_graph_builder(cls: type[GraphBuilder], tmp_path: Path) -> None:
    """Graph invariants, determinism, store round trip."""
    check_params(cls)
    builder = _make(cls)
    codes = clustered_codes(300, 32, 20, 0.03, seed=1)
    g = builder.build(codes, 32)
    assert g.node_counts.sum() == 300 and g.image_nodes.shape == (300,)
    assert np.array_equal(g.node_codes[g.image_nodes], codes), f"{cls.name}: image_nodes wrong"
    adj = g.adjacency
    assert adj.shape == (g.n_nodes, g.n_nodes)
    assert abs(adj - adj.T).max() == 0, f"{cls.name}: adjacency not symmetric"
    assert adj.diagonal().sum() == 0, f"{cls.name}: self loops"
    assert adj.data.size == 0 or (adj.data.min() > 0 and adj.data.max() <= 32)
    g2 = builder.build(codes, 32)
    assert (g.adjacency != g2.adjacency).nnz == 0, f"{cls.name}: not deterministic"
    store = Store.create(tmp_path / f"{cls.name}-graph.h5", overwrite=True)
    with store.edit() as w:
        w.write_graph(g, provenance_of(builder))
    back = store.read_graph()
    assert (back.adjacency != g.adjacency).nnz == 0 and np.array_equal(back.node_codes,
                                                                        g.node_codes)


def check_ranker(cls: type[Ranker], tmp_path: Path) -> None:
    """Scores per node, finite and non-negative, deterministic, store round trip."""
    check_params(cls)
    ranker = _make(cls)
    codes = clustered_codes(200, 16, 12, 0.05, seed=2)
    graph = brute_force_graph(codes, 16, 2, merged=True)
    res = ranker.rank(graph)
    assert res.node_scores.shape == (graph.n_nodes,)
    assert np.isfinite(res.node_scores).all() and (res.node_scores >= 0).all()
    assert np.array_equal(res.node_scores, ranker.rank(graph).node_scores)
    store = Store.create(tmp_path / f"{cls.name}-rank.h5", overwrite=True)
    with store.edit() as w:
        w.write_rank(res, provenance_of(ranker))
    back = store.read_rank()
    assert np.array_equal(back.node_scores, res.node_scores) and back.converged == res.converged


def _toy_importance(n_bits: int = 16) -> ImportanceList:
    codes = np.unique(clustered_codes(120, n_bits, 8, 0.05, seed=3), axis=0)
    m = codes.shape[0]
    scores = np.linspace(2.0, 0.1, m)
    counts = np.ones(m, dtype=np.int64)
    return ImportanceList(n_bits, codes, scores, np.arange(1, m + 1), counts,
                          np.arange(m + 1), np.arange(m))


def check_assessor(cls: type[Assessor], tmp_path: Path) -> None:
    """R in [0, 1], deterministic, weights validated; an estimate (if any) consistent."""
    check_params(cls)
    assessor = _make(cls)
    il = _toy_importance()
    req = il.codes[:3].copy()
    a = assessor.assess(il, req)
    assert 0.0 <= a.relevance <= 1.0 and len(a.per_image) == 3
    b = assessor.assess(il, req)
    assert a.relevance == b.relevance and a.score == b.score
    w = assessor.assess(il, req, np.array([1.0, 0.0, 0.0]))
    assert 0.0 <= w.relevance <= 1.0
    assert 0 <= a.matched_images <= il.n_images
    e = a.estimate
    if e is not None:  # an estimate of the wanted amount is self-consistent
        assert 0.0 <= e.low <= e.count <= e.high <= e.n_images == il.n_images
        assert e.share == e.count / e.n_images and a.ranking_value() == e.count


def check_backbone(cls: type[Backbone], tmp_path: Path) -> None:
    """Transform + network give (batch, output_dim) float features, deterministically."""
    import torch

    check_params(cls)
    bb = _make(cls)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8))
    x = torch.stack([bb.transform()(img), bb.transform()(img.convert("L").convert("RGB"))])
    net = bb.build("cpu")
    with torch.no_grad():
        y1, y2 = net(x), net(x)
    assert tuple(y1.shape) == (2, bb.output_dim), f"{cls.name}: output {tuple(y1.shape)}"
    assert torch.isfinite(y1).all() and torch.equal(y1, y2)


_CHECKS = {"hasher": check_hasher, "graph_builder": check_graph_builder,
           "ranker": check_ranker, "assessor": check_assessor, "backbone": check_backbone}


def check_plugin(cls: type[Plugin], tmp_path: Path) -> None:
    """Run the checks for ``cls``'s kind."""
    _CHECKS[cls.kind](cls, tmp_path)  # type: ignore[operator]


