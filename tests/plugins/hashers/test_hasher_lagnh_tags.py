"""LAGNH auxiliary semantics (pseudo-tags, source choice) and anchor-graph encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dhr_plugins.hashers.lagnh import net as N
from dhr_plugins.hashers.lagnh.anchor import AnchorGraph
from dhr_plugins.hashers.lagnh.tags import (
    check_tags,
    fit_pseudo_centres,
    pseudo_tags,
    resolve_source,
)

from dhr_sdk.core.errors import DhrError


def _blobs(n: int = 90, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, size=(3, d))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, d))).astype(np.float32)


def test_pseudo_tags_are_the_nearest_centres() -> None:
    x = _blobs()
    centres = fit_pseudo_centres(x, 6, seed=0)
    tags = pseudo_tags(x, centres, per_image=2)
    assert tags.shape == (90, 6) and (tags.sum(1) == 2).all()
    d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    for i in range(90):
        assert set(np.flatnonzero(tags[i])) == set(np.argsort(d[i])[:2])


def test_pseudo_centres_are_deterministic_and_capped() -> None:
    x = _blobs()
    np.testing.assert_array_equal(fit_pseudo_centres(x, 5, 3), fit_pseudo_centres(x, 5, 3))
    same = np.repeat(x[:2], 10, axis=0)             # 2 distinct rows -> at most 2 centres
    assert fit_pseudo_centres(same, 8, 0).shape[0] == 2
    assert pseudo_tags(x, fit_pseudo_centres(same, 8, 0), per_image=3).sum(1).max() == 2


def test_pseudo_tags_cluster_blobs() -> None:
    """Label-free tags still recover the blob structure (nearest centre per blob)."""
    x = _blobs()
    tags = pseudo_tags(x, fit_pseudo_centres(x, 3, 0), per_image=1)
    blob = np.arange(90) % 3
    for b in range(3):
        assert len({int(t.argmax()) for t in tags[blob == b]}) == 1


def test_resolve_source() -> None:
    tags = np.ones((3, 2))
    assert resolve_source("auto", tags, True) == "tags"
    assert resolve_source("auto", None, True) == "pseudo+visual-words"
    assert resolve_source("auto", None, False) == "pseudo"
    assert resolve_source("pseudo", tags, True) == "pseudo"
    for source in ("visual-words", "pseudo+visual-words"):
        assert resolve_source(source, tags, True) == source
        with pytest.raises(DhrError, match="needs the training images"):
            resolve_source(source, None, False)
    with pytest.raises(DhrError, match="needs tags"):
        resolve_source("tags", None, True)


@pytest.mark.parametrize("bad", [np.full((2, 2), 2.0), np.zeros((2, 2)), np.zeros((2, 0)),
                                 np.array([[np.nan, 1.0], [0.0, 1.0]])])
def test_check_tags_rejects_non_multi_hot(bad: np.ndarray) -> None:
    with pytest.raises(DhrError):
        check_tags(bad)


def _net() -> N.LagnhNet:
    torch.manual_seed(0)
    return N.LagnhNet(in_dim=6, n_tags=4, att_dim=5, hidden=7, n_bits=8).double().eval()


def _naive_query_code(net: N.LagnhNet, ax: np.ndarray, ay: np.ndarray, xq: np.ndarray,
                      yq: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """Reference: the (m+1)-node graph built densely; anchors' layer 1 from anchors alone."""
    t = torch.from_numpy
    x_all, y_all = np.vstack([ax, xq[None]]), np.vstack([ay, yq[None]])
    with torch.no_grad():
        x_bar = net.encoder.img(t(x_all))
        y_bar_anchors = net.encoder.tag(t(ay))
        x_att = N.attend(x_bar, y_bar_anchors)[0]           # attention over anchors' tags
        yn = N.tag_rows(t(y_all), True)
        s = mu * N.visual_similarity(x_att, x_att, sigma) + yn @ yn.T
        s_full = N.normalise_graph(s).numpy()
        m = ax.shape[0]
        s_anchor = N.normalise_graph(s[:m, :m])
        h = net.gcn.gc1(x_att).numpy()
        z1_q = np.maximum(s_full[m] @ h, 0.0)
        z1 = np.vstack([net.gcn.layer1(s_anchor, x_att[:m]).numpy(), z1_q[None]])
        w2 = net.gcn.gc2.weight.numpy().T
        return np.asarray(s_full[m] @ z1 @ w2)


def test_anchor_encoding_matches_dense_reference_graph() -> None:
    rng = np.random.default_rng(0)
    net = _net()
    ax, ay = rng.normal(size=(9, 6)), (rng.random((9, 4)) < 0.4).astype(np.float64)
    ay[:, 0] = 1.0
    xq = rng.normal(size=(3, 6))
    yq = (rng.random((3, 4)) < 0.5).astype(np.float64)
    graph = AnchorGraph(net, ax, ay, mu=0.7, sigma=2.0, normalise_tags=True, neighbours=None)
    z = graph.encode(torch.from_numpy(xq), torch.from_numpy(yq), tag_neighbours=3).numpy()
    for i in range(3):
        ref = _naive_query_code(net, ax, ay, xq[i], yq[i], 0.7, 2.0)
        np.testing.assert_allclose(z[i], ref, rtol=1e-9, atol=1e-12)


def test_propagated_query_tags_are_mean_of_most_similar_anchors() -> None:
    rng = np.random.default_rng(1)
    net = _net()
    ax, ay = rng.normal(size=(8, 6)), (rng.random((8, 4)) < 0.5).astype(np.float64)
    graph = AnchorGraph(net, ax, ay, mu=1.0, sigma=1.5, normalise_tags=True, neighbours=None)
    xq = torch.from_numpy(rng.normal(size=(2, 6)))
    with torch.no_grad():
        s_v = N.visual_similarity(graph.query_attention(xq), graph.x_att, 1.5).numpy()
    got = graph.propagated_tags(torch.from_numpy(s_v), 3).numpy()
    for i in range(2):
        np.testing.assert_allclose(got[i], ay[np.argsort(-s_v[i])[:3]].mean(0))
    # without given tags, encode uses exactly these propagated tags
    z_prop = graph.encode(xq, None, 3)
    z_given = graph.encode(xq, torch.from_numpy(got), 3)
    assert torch.allclose(z_prop, z_given)


def test_anchor_encoding_is_independent_of_the_batch() -> None:
    rng = np.random.default_rng(2)
    net = _net()
    ax, ay = rng.normal(size=(10, 6)), np.eye(4)[np.arange(10) % 4]
    graph = AnchorGraph(net, ax, ay, mu=1.0, sigma=1.0, normalise_tags=True, neighbours=None)
    xq = torch.from_numpy(rng.normal(size=(5, 6)))
    together = graph.encode(xq, None, 2)
    alone = torch.cat([graph.encode(xq[i:i + 1], None, 2) for i in range(5)])
    assert torch.allclose(together, alone, atol=1e-12)


def test_anchor_encoding_with_knn_graph_matches_dense_reference() -> None:
    """With ``neighbours=k`` the query row keeps its k most similar anchors in S^v."""
    rng = np.random.default_rng(3)
    net = _net()
    ax, ay = rng.normal(size=(9, 6)), np.eye(4)[np.arange(9) % 4]
    graph = AnchorGraph(net, ax, ay, mu=1.0, sigma=3.0, normalise_tags=True, neighbours=3)
    xq = rng.normal(size=(2, 6))
    yq = np.eye(4)[[0, 2]]
    z = graph.encode(torch.from_numpy(xq), torch.from_numpy(yq), tag_neighbours=3).numpy()
    t = torch.from_numpy
    with torch.no_grad():
        x_att_a = graph.x_att
        s_aa = N.keep_nearest(N.visual_similarity(x_att_a, x_att_a, 3.0), 3, square=True)
        s_aa = s_aa + t(ay) @ t(ay).T
        z1_a = net.gcn.layer1(N.normalise_graph(s_aa), x_att_a).numpy()
        deg_a = s_aa.sum(1).numpy()
        for i in range(2):
            xq_att = graph.query_attention(t(xq[i:i + 1]))
            sv = N.visual_similarity(xq_att, x_att_a, 3.0).numpy()[0]
            top = np.argsort(-sv)[:3]
            s_qa = np.where(np.isin(np.arange(9), top), sv, 0.0) + ay @ yq[i]
            s_qq = 1.0 + yq[i] @ yq[i]
            d_q = s_qq + s_qa.sum()
            w = s_qa / np.sqrt(d_q * (deg_a + s_qa))
            h1 = net.gcn.gc1(x_att_a).numpy()
            z1_q = np.maximum(w @ h1 + s_qq / d_q * net.gcn.gc1(xq_att).numpy()[0], 0.0)
            w2 = net.gcn.gc2.weight.numpy().T
            ref = w @ z1_a @ w2 + s_qq / d_q * z1_q @ w2
            np.testing.assert_allclose(z[i], ref, rtol=1e-9, atol=1e-12)
