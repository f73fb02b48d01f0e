"""LAGNH building blocks on tiny inputs, against naive loop/numpy references (Eq. 1–11)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from dhr_plugins.hashers.lagnh import loss as L
from dhr_plugins.hashers.lagnh import net as N


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_attention_matches_eq_1_2_loops() -> None:
    rng = np.random.default_rng(0)
    xb, yb = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    x_att, alpha = N.attend(_t(xb), _t(yb))
    for i in range(5):
        a = np.array([max(_cos(xb[i], yb[j]), 0.0) for j in range(6)])        # Eq. (1)
        np.testing.assert_allclose(alpha[i].numpy(), a, atol=1e-12)
        ref = (a[:, None] * yb).sum(0) / a.sum() + xb[i]                      # Eq. (2)
        np.testing.assert_allclose(x_att[i].numpy(), ref, atol=1e-12)


def test_attention_without_positive_weight_keeps_x_bar() -> None:
    xb = np.array([[1.0, 0.0], [0.0, 1.0]])
    yb = np.array([[-1.0, 0.0], [-2.0, 0.0]])
    x_att, alpha = N.attend(_t(xb), _t(yb))
    assert float(alpha[0].sum()) == 0.0
    np.testing.assert_allclose(x_att[0].numpy(), xb[0])
    assert torch.isfinite(x_att).all()


def test_visual_similarity_gaussian_kernel_eq_3() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    s = N.visual_similarity(_t(a), _t(b), 1.7).numpy()
    ref = np.array([[math.exp(-np.sum((a[i] - b[j]) ** 2) / (2 * 1.7 ** 2)) for j in range(4)]
                    for i in range(3)])
    np.testing.assert_allclose(s, ref, rtol=1e-10)


def test_median_bandwidth_is_median_pairwise_distance() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(7, 3))
    d = [np.linalg.norm(x[i] - x[j]) for i in range(7) for j in range(7) if i != j]
    # torch's median of an even count is the lower middle value
    assert N.median_bandwidth(_t(x)) == pytest.approx(sorted(d)[(len(d) - 1) // 2], rel=1e-9)
    assert N.median_bandwidth(_t(x[:1])) == 1.0
    assert N.median_bandwidth(_t(np.zeros((3, 2)))) == 1.0


def test_keep_nearest_knn_graph() -> None:
    s = np.array([[1.0, 0.9, 0.1, 0.2],
                  [0.9, 1.0, 0.3, 0.1],
                  [0.1, 0.3, 1.0, 0.8],
                  [0.2, 0.1, 0.8, 1.0]])
    kept = N.keep_nearest(_t(s), 1, square=True).numpy()     # self + 1 neighbour, symmetric
    mask = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(kept, np.where(mask, s, 0.0))
    asym = np.array([[1.0, 0.9, 0.0], [0.5, 1.0, 0.4], [0.1, 0.45, 1.0]])
    kept = N.keep_nearest(_t(asym), 1, square=True).numpy()
    assert kept[1, 2] == 0.4 and kept[2, 1] == 0.45          # kept by row 2 -> both ends
    rows = N.keep_nearest(_t(s[:2, 1:]), 2, square=False).numpy()
    np.testing.assert_array_equal(rows, [[0.9, 0.0, 0.2], [1.0, 0.3, 0.0]])
    assert N.keep_nearest(_t(s), None, square=True).numpy().tolist() == s.tolist()


def test_aux_similarity_and_augmented_graph_eq_4_5() -> None:
    y = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float64)
    s_a = N.aux_similarity(_t(y), _t(y)).numpy()
    np.testing.assert_array_equal(s_a, y @ y.T)                     # Eq. (4), shared tags
    yn = N.tag_rows(_t(y), normalise=True)
    np.testing.assert_allclose(N.aux_similarity(yn, yn).numpy()[0, 1], 1 / math.sqrt(2))
    assert N.tag_rows(_t(y), normalise=False).numpy().tolist() == y.tolist()
    s_v = np.full((3, 3), 0.5)
    s = N.augmented_graph(_t(s_v), _t(s_a), 2.0).numpy()
    np.testing.assert_allclose(s, 2.0 * s_v + s_a)                 # Eq. (5)


def test_normalised_graph_matches_d_half_s_d_half() -> None:
    rng = np.random.default_rng(3)
    s = rng.random((4, 4))
    s = s + s.T
    d = s.sum(1)
    ref = np.diag(d ** -0.5) @ s @ np.diag(d ** -0.5)
    np.testing.assert_allclose(N.normalise_graph(_t(s)).numpy(), ref, rtol=1e-12)
    s[3, :] = s[:, 3] = 0.0                                         # isolated node: no NaN
    out = N.normalise_graph(_t(s)).numpy()
    assert np.isfinite(out).all() and not out[3].any()


def test_gcn_layers_eq_6_7_and_table_1_shapes() -> None:
    torch.manual_seed(0)
    gcn = N.GCN(att_dim=4, hidden=6, n_bits=8).double()
    assert gcn.gc1.bias is None and gcn.gc2.bias is None
    rng = np.random.default_rng(4)
    s_norm, x_att = rng.random((5, 5)), rng.normal(size=(5, 4))
    w1 = gcn.gc1.weight.detach().numpy().T
    w2 = gcn.gc2.weight.detach().numpy().T
    z1 = np.maximum(s_norm @ x_att @ w1, 0.0)
    np.testing.assert_allclose(gcn(_t(s_norm), _t(x_att)).detach().numpy(), s_norm @ z1 @ w2,
                               rtol=1e-10)


def test_discriminator_is_r_64_32_1() -> None:
    disc = N.Discriminator(16)
    dims = [(m.in_features, m.out_features) for m in disc.net if isinstance(m, torch.nn.Linear)]
    assert dims == [(16, 64), (64, 32), (32, 1)]
    assert disc(torch.zeros(3, 16)).shape == (3,)


def test_batch_graph_is_built_without_gradient_and_normalised() -> None:
    torch.manual_seed(0)
    net = N.LagnhNet(in_dim=5, n_tags=3, att_dim=4, hidden=6, n_bits=8)
    x = torch.randn(6, 5)
    y = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1.0]])
    x_att, s_norm, sigma = net.batch_graph(x, y, mu=1.0, sigma=None, normalise_tags=True,
                                           neighbours=2)
    assert x_att.requires_grad and not s_norm.requires_grad
    assert sigma == pytest.approx(N.median_bandwidth(x_att.detach()))
    assert torch.allclose(s_norm, s_norm.T, atol=1e-6)


def test_quantisation_loss_eq_8() -> None:
    z = np.array([[0.5, -2.0], [0.0, 1.5]])
    b = np.where(z >= 0, 1.0, -1.0)
    assert float(L.quantisation_loss(_t(z))) == pytest.approx(((b - z) ** 2).mean())


def test_reconstruction_loss_eq_9() -> None:
    rng = np.random.default_rng(5)
    z, s_a = rng.normal(size=(4, 6)), rng.random((4, 4))
    cos = np.array([[max(_cos(z[i], z[j]), 0.0) for j in range(4)] for i in range(4)])
    ref = ((2.0 * s_a - cos) ** 2).mean()
    assert float(L.reconstruction_loss(_t(z), _t(s_a), k=2.0)) == pytest.approx(ref, rel=1e-10)


def test_classification_loss_eq_11_is_cross_entropy() -> None:
    logits = np.array([[2.0, -1.0, 0.0]])
    y = np.array([[1.0, 0.0, 1.0]])
    p = 1 / (1 + np.exp(-logits))
    ref = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    assert float(L.classification_loss(_t(logits), _t(y))) == pytest.approx(ref, rel=1e-10)


def test_adversarial_losses_eq_10() -> None:
    real, fake = np.array([1.5, -0.5]), np.array([0.3, -2.0])
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    d_ref = -np.log(sig(real)).mean() - np.log(1 - sig(fake)).mean()
    g_ref = -np.log(sig(fake)).mean()
    assert float(L.discriminator_loss(_t(real), _t(fake))) == pytest.approx(d_ref, rel=1e-10)
    assert float(L.generator_adversarial_loss(_t(fake))) == pytest.approx(g_ref, rel=1e-10)


def test_total_loss_eq_12_weights_terms() -> None:
    adv, rec, qua, cl = (torch.tensor(v) for v in (0.5, 0.25, 2.0, 3.0))
    total = L.total_generator_loss(adv, rec, qua, cl, lambda1=100.0, lambda2=1.0, lambda3=0.1)
    assert float(total) == pytest.approx(0.5 + 25.0 + 2.0 + 0.3)
