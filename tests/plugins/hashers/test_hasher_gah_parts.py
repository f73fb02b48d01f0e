"""GAH building blocks: co-occurrence matrix, GCN normalisation, MFB shapes, loss terms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from dhr_plugins.hashers.gah import loss as L
from dhr_plugins.hashers.gah.graph import LabelGCN, cooccurrence_matrix, normalized_adjacency
from dhr_plugins.hashers.gah.net import MFB, Decoder, Encoder, PixelDecoder

DOG, CAT = 0, 1


def test_cooccurrence_fig5a_dog_cat() -> None:
    # Fig. 5a: dog appears twice, cat once, they co-occur once.
    labels = np.array([[1, 0], [1, 1]])
    a = cooccurrence_matrix(labels)
    # P(dog|cat) = T_dc / T_cat = 1 is A[cat, dog]; P(cat|dog) = T_dc / T_dog = 1/2 is A[dog, cat]
    assert a[CAT, DOG] == pytest.approx(1.0)
    assert a[DOG, CAT] == pytest.approx(0.5)
    assert a[DOG, DOG] == 0.0 and a[CAT, CAT] == 0.0


def test_cooccurrence_against_counting_loop() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((60, 5)) < 0.35).astype(np.uint8)
    y[:, 4] = 0  # a label that never occurs
    a = cooccurrence_matrix(y)
    for i in range(5):
        for j in range(5):
            t_i = sum(1 for row in y if row[i])
            t_ij = sum(1 for row in y if row[i] and row[j])
            want = 0.0 if i == j or t_i == 0 else t_ij / t_i  # A_ij = P(r_j | r_i)
            assert a[i, j] == pytest.approx(want)


def test_normalized_adjacency_definition() -> None:
    a = cooccurrence_matrix(np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]]))
    a_hat = normalized_adjacency(a)
    a_tilde = a + np.eye(3)
    d = np.diag(a_tilde.sum(axis=1) ** -0.5)
    np.testing.assert_allclose(a_hat, d @ a_tilde @ d)
    # no co-occurrence (single-label data): Â = I
    np.testing.assert_allclose(normalized_adjacency(np.zeros((4, 4))), np.eye(4))


def test_gcn_layer_is_a_hat_v_w() -> None:
    torch.manual_seed(0)
    a_hat = normalized_adjacency(cooccurrence_matrix(np.array([[1, 1, 0], [0, 1, 1]])))
    gcn = LabelGCN(a_hat, 4, [6, 5])
    v = torch.randn(3, 4)
    ah = torch.as_tensor(a_hat, dtype=torch.float32)
    w0, w1 = gcn.weights
    want = ah @ torch.nn.functional.leaky_relu(ah @ v @ w0, 0.2) @ w1
    torch.testing.assert_close(gcn(v), want)
    assert gcn.out_dim == 5


def test_mfb_shapes_and_equation_2() -> None:
    torch.manual_seed(0)
    n, dx, de, r, k = 4, 7, 6, 3, 5
    mfb = MFB(dx, de, r, k)
    x, e = torch.randn(n, dx), torch.randn(r, de)
    m1, m3, m4 = mfb(x, e)
    assert m1.shape == (n, k * r) and m3.shape == (n, k * r) and m4.shape == (n, r)
    # z_g = 1ᵀ(U_gᵀ x̃ ∘ V_gᵀ E(r_g)) with U_g, V_g the g-th k-blocks of the fc layers
    wu, bu = mfb.fc_u.weight, mfb.fc_u.bias
    wv, bv = mfb.fc_v.weight, mfb.fc_v.bias
    for g in range(r):
        blk = slice(g * k, (g + 1) * k)
        u = x @ wu[blk].T + bu[blk]
        v = e[g] @ wv[blk].T + bv[blk]
        torch.testing.assert_close(m4[:, g], (u * v).sum(dim=1))


def test_encoder_decoder_shapes() -> None:
    torch.manual_seed(0)
    enc = Encoder(in_dim=12, image_dim=16, embed_dim=6, n_labels=3, k=4, n_bits=24)
    out = enc(torch.randn(5, 12), torch.randn(3, 6))
    assert out.z_tilde.shape == (5, 24) and out.h.abs().max() < 1
    dec = Decoder(24, 3, 4, 16, 12)
    m3b, m4b, xb = dec(out.h)
    assert m3b.shape == out.m3.shape and m4b.shape == out.m4.shape and xb.shape == (5, 12)
    assert len(dec.fc_weights()) == 5  # 4 fc layers + the fc standing in for deconvolution
    pix = Decoder(24, 3, 4, 16, 12, pixel_shape=(1, 3, 4))
    assert pix(out.h)[2].shape == (5, 12) and len(pix.fc_weights()) == 4
    assert PixelDecoder(8, (3, 28, 28))(torch.randn(2, 8)).shape == (2, 3 * 28 * 28)


def _naive_delta(h: np.ndarray, i: int, j: int) -> float:
    cos = h[i] @ h[j] / (np.linalg.norm(h[i]) * np.linalg.norm(h[j]))
    return h.shape[1] / 2 * (1 - cos)


def test_cauchy_cross_entropy_eq5_tiny() -> None:
    h = np.array([[0.9, -0.5, 0.3, 0.8], [0.7, -0.2, 0.1, 0.9],
                  [-0.6, 0.4, -0.8, 0.2]], dtype=np.float64)
    y = np.array([[1, 0], [1, 1], [0, 1]])  # pairs: (0,1) sim, (0,2) dis, (1,2) sim
    gamma = 0.15
    pairs = [(0, 1, 1), (0, 2, 0), (1, 2, 1)]
    n_s, n_d = 2, 1
    total = 0.0
    for i, j, s in pairs:
        d = _naive_delta(h, i, j)
        w = 3 / n_s if s else 3 / n_d
        total += w * (s * math.log(d / gamma) + math.log(1 + gamma / d))
    want = total / 3
    ht, yt = torch.as_tensor(h), torch.as_tensor(y)
    got = L.cauchy_cross_entropy(ht, L.pair_similarity(yt), gamma)
    assert float(got) == pytest.approx(want, rel=1e-6)


def test_cauchy_quantization_eq6_tiny() -> None:
    h = np.array([[0.9, -0.5, 0.3, 0.8], [-1.0, 1.0, 1.0, -1.0]])
    gamma = 0.15
    want = []
    for row in h:
        a = np.abs(row)
        d = 4 / 2 * (1 - a.sum() / (np.linalg.norm(a) * 2.0))
        want.append(math.log(1 + d / gamma))
    got = L.cauchy_quantization(torch.as_tensor(h), gamma)
    assert float(got) == pytest.approx(np.mean(want), rel=1e-6)
    assert want[1] == pytest.approx(0.0, abs=1e-12)  # binary codes cost nothing


def test_hash_loss_tradeoff_lambda() -> None:
    h = torch.tensor([[0.5, -0.2, 0.9], [0.4, 0.3, -0.6]])
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    total, cce, cq = L.hash_loss(h, s, 0.15, 0.3)
    assert float(total) == pytest.approx(0.3 * float(cce) + 0.7 * float(cq))


def test_cross_entropy_finite_for_identical_codes() -> None:
    h = torch.tensor([[1.0, -1.0, 1.0, 1.0]] * 2, requires_grad=True)
    dissimilar = torch.zeros(2, 2)
    loss = L.cauchy_cross_entropy(h, dissimilar, 0.15)
    loss.backward()
    # identical codes of a dissimilar pair cost a lot
    assert torch.isfinite(loss) and float(loss.detach()) > 5
    assert L.cauchy_cross_entropy(h.detach(), torch.ones(2, 2), 0.15) == pytest.approx(0.0)


def test_reconstruction_regularizer_and_eq9() -> None:
    m3, m3b = torch.ones(2, 4), torch.zeros(2, 4)
    m4, m4b = torch.ones(2, 2) * 2, torch.ones(2, 2)
    x, xb = torch.zeros(2, 3), torch.ones(2, 3)
    rec = L.reconstruction_loss(m3, m3b, m4, m4b, x, xb, (0.2, 0.3, 0.5))
    assert float(rec) == pytest.approx(0.2 * 4 + 0.3 * 2 + 0.5 * 3)
    w = [torch.ones(2, 3), torch.full((1, 2), 2.0)]
    reg = L.decoder_regularizer(w)
    assert float(reg) == pytest.approx(0.25 * (6 + 8))
    assert float(L.autoencoder_loss(reg, rec, 0.1, 0.9)) == pytest.approx(
        0.1 * float(reg) + 0.9 * float(rec))
