"""NRDH: each equation against a direct computation on tiny inputs, training, params, store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dhr_plugins.hashers._common.torch_utils import train_epochs
from dhr_plugins.hashers.nrdh import NRDHHasher
from dhr_plugins.hashers.nrdh.gcn import (
    GCNAutoEncoder,
    correlation_matrix,
    cosine_matrix,
    reconstruction_loss,
    stage1_loss,
    weight_regularizer,
)
from dhr_plugins.hashers.nrdh.stage2 import code_bits, fc_loss, fch_loss, self_targets, stage2_loss

from dhr_sdk.codes.packing import unpack_bits
from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.core.interfaces import FitData
from dhr_sdk.core.progress import Progress
from dhr_sdk.model.hash_model import HashModel, load_model, save_model
from dhr_sdk.testing import synthetic_fit_data

FAST: dict[str, Any] = {"n_bits": 16, "gcn_epochs": 4, "head_epochs": 6, "tol": 0.0}


class Recorder(Progress):
    """A quiet Progress that keeps the logged lines."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def _x(n: int = 6, d: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, d))).double()


def test_correlation_matrix_matches_eqs_2_to_4() -> None:
    x = _x(7, 4)
    rho, p = 0.1, 0.8
    v = x.numpy()
    u = np.array([[a @ b / np.linalg.norm(a) / np.linalg.norm(b) for b in v] for a in v])
    np.testing.assert_allclose(cosine_matrix(x).numpy(), u, atol=1e-12)        # Eq. (2)
    want = np.zeros_like(u)
    for i in range(7):
        nbrs = [j for j in range(7) if j != i and u[i, j] > rho]                 # Eq. (3)
        want[i, i] = p                                                            # Eq. (4)
        for j in nbrs:
            want[i, j] = (1 - p) / len(nbrs)
    got = correlation_matrix(x, rho, p).numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert set(np.unique(got[~np.eye(7, dtype=bool)] > 0)) <= {True, False}
    has_nbrs = (u > rho).sum(1) > 1
    np.testing.assert_allclose(got.sum(1)[has_nbrs], 1.0, atol=1e-12)


def test_isolated_node_keeps_only_self_weight() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    got = correlation_matrix(x, 0.4, 0.8).numpy()
    np.testing.assert_allclose(got, [[0.8, 0, 0], [0, 0.8, 0.2], [0, 0.2, 0.8]])


def test_gcn_autoencoder_is_eq_5_with_mirrored_decoder() -> None:
    torch.manual_seed(0)
    model = GCNAutoEncoder(5, (4, 3), 2).double()
    x = _x(6, 5)
    adj = correlation_matrix(x, 0.0, 0.7)
    mats = [w.detach().numpy() for w in model.weight_matrices()]
    ws, wd = mats[:3], mats[3:]
    a, h = adj.numpy(), x.numpy()
    for i, w in enumerate(ws):                       # X^{l+1} = f(U' X^l W^l)
        h = a @ h @ w.T
        h = np.maximum(h, 0) if i < 2 else h
    z, out = model(x, adj)
    np.testing.assert_allclose(z.detach().numpy(), h, atol=1e-10)
    for i, w in enumerate(wd):
        h = a @ h @ w.T
        h = np.maximum(h, 0) if i < 2 else h
    np.testing.assert_allclose(out.detach().numpy(), h, atol=1e-10)
    assert [w.shape for w in wd] == [(3, 2), (4, 3), (5, 4)]


def test_stage1_loss_terms() -> None:
    torch.manual_seed(1)
    model = GCNAutoEncoder(5, (4,), 3).double()
    x = _x(5, 5, seed=3)
    adj = correlation_matrix(x, 0.2, 0.8)
    _, x_hat = model(x, adj)
    diff = (x - x_hat).detach().numpy()
    l_r = np.mean([np.sum(r ** 2) for r in diff])                               # Eq. (6)
    assert float(reconstruction_loss(x, x_hat).detach()) == pytest.approx(l_r, rel=1e-12)
    mats = [w.detach().numpy() for w in model.weight_matrices()]
    assert len(mats) == 4
    l_w = 0.5 * sum(np.sum(m ** 2) for m in mats)                               # Eq. (7)
    assert float(weight_regularizer(model.weight_matrices()).detach()) == pytest.approx(l_w)
    loss, _ = stage1_loss(model, x, adj, 0.999, 0.001)                          # Eq. (8)
    assert float(loss.detach()) == pytest.approx(0.999 * l_r + 0.001 * l_w, rel=1e-12)


def test_stage2_loss_terms() -> None:
    rng = np.random.default_rng(4)
    fc = torch.from_numpy(rng.normal(size=(4, 8)))
    g = torch.from_numpy(rng.normal(size=(4, 8)))
    f, t = fc.numpy(), g.numpy()
    assert float(fc_loss(fc, g)) == pytest.approx(np.mean((f - t) ** 2))          # Eq. (15)
    fch = np.tanh(f)                                                              # Eq. (13-14)
    b = 0.5 * (np.sign(fch) + 1)                                                  # Eq. (16)
    np.testing.assert_array_equal(self_targets(torch.tanh(fc)).numpy(), b)
    prob = (fch + 1) / 2
    bce = -np.mean(b * np.log(prob) + (1 - b) * np.log(1 - prob))                # Eq. (17)
    assert float(fch_loss(torch.tanh(fc), torch.from_numpy(b))) == pytest.approx(bce)
    want = 0.8 * np.mean((f - t) ** 2) + 0.2 * bce                               # Eq. (18)
    assert float(stage2_loss(fc, g, 0.8, 0.2)) == pytest.approx(want)
    np.testing.assert_array_equal(code_bits(fc).numpy(), (fch >= 0).astype(np.uint8))  # (19)


def test_self_targets_carry_no_gradient() -> None:
    fc = torch.randn(3, 4, requires_grad=True)
    stage2_loss(fc, torch.zeros(3, 4), 0.0, 1.0).backward()
    assert fc.grad is not None
    # d/dfc of BCE((tanh+1)/2, b) with b fixed pushes every output away from 0
    assert (torch.sign(fc.grad) == -torch.sign(fc.detach())).all()


def test_training_decreases_both_losses_and_logs_each_epoch() -> None:
    rec = Recorder()
    h = NRDHHasher(**FAST).fit(synthetic_fit_data(), rec)
    s1, s2 = h.history_["stage1"], h.history_["stage2"]
    assert len(s1) == 4 and len(s2) == 6
    assert s1[-1] < s1[0] and s2[-1] < s2[0]
    epochs = [line for line in rec.lines if "epoch" in line and "loss" in line]
    assert len(epochs) == 10 and epochs[0].startswith("nrdh stage 1: epoch 1/4 loss ")


def test_convergence_rule_stops_early() -> None:
    losses = iter([5.0, 4.0, 3.999, 3.0])
    hist = train_epochs(lambda _: next(losses), 10, 1e-3, Progress(quiet=True), "t")
    assert hist == [5.0, 4.0, 3.999]
    flat = train_epochs(lambda _: 1.0, 5, 0.0, Progress(quiet=True), "t")
    assert len(flat) == 2  # an unchanged loss is converged even with tol = 0
    with pytest.raises(DhrError, match="diverged"):
        train_epochs(lambda _: float("nan"), 3, 0.0, Progress(quiet=True), "t")


def test_codes_separate_clusters_and_encode_without_graph(tmp_path: Path) -> None:
    data = synthetic_fit_data(n=400, d=16, n_classes=4, seed=2)
    h = NRDHHasher(n_bits=32, gcn_epochs=10, head_epochs=20).fit(data)
    bits = unpack_bits(h.encode(data.features)).astype(int)
    assert data.labels is not None
    y = data.labels.argmax(1)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    same = dist[y[:, None] == y[None, :]].mean()
    other = dist[y[:, None] != y[None, :]].mean()
    assert same < 0.5 * other
    single = np.concatenate([h.encode(data.features[i:i + 1]) for i in range(5)])
    np.testing.assert_array_equal(single, h.encode(data.features[:5]))
    save_model(HashModel(h, "pixels", {}), tmp_path / "m.h5")
    back = load_model(tmp_path / "m.h5").hasher
    assert isinstance(back, NRDHHasher)
    np.testing.assert_array_equal(back.encode(data.features), h.encode(data.features))
    np.testing.assert_array_equal(back.history_["stage1"], h.history_["stage1"])
    with pytest.raises(DhrError, match="dimensions"):
        h.encode(data.features[:, :5])


def test_seed_changes_codes_and_same_seed_repeats() -> None:
    data = synthetic_fit_data()
    a = NRDHHasher(**FAST, seed=1).fit(data).encode(data.features)
    b = NRDHHasher(**FAST, seed=1).fit(data).encode(data.features)
    c = NRDHHasher(**FAST, seed=2).fit(data).encode(data.features)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("bad", [{"n_bits": 8}, {"n_bits": 136}, {"n_bits": 20},
                                 {"alpha": 0.5}, {"mu": 0.5}, {"rho": 1.5},
                                 {"nodes_per_graph": 1}])
def test_invalid_params_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ParamsError):
        NRDHHasher(**bad)  # type: ignore[arg-type]


def test_paper_defaults() -> None:
    p = NRDHHasher().params
    assert (p.n_bits, p.nodes_per_graph, p.rho, p.p, p.alpha, p.beta, p.mu, p.omega) == (
        64, 10, 0.4, 0.8, 0.999, 0.001, 0.8, 0.2)
    assert p.gcn_hidden == (64, 64) and p.head_hidden == (256, 64)
    for bits in (16, 128):
        assert NRDHHasher(n_bits=bits).n_bits == bits


def test_too_few_images_is_a_user_error() -> None:
    with pytest.raises(DhrError, match="at least 2"):
        NRDHHasher(**FAST).fit(FitData(features=np.ones((1, 4), np.float32)))
