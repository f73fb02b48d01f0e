"""DSTGeH: each equation against a direct computation on tiny inputs, training, params, store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from dhr_plugins.hashers.dstgeh import DSTGeHHasher, bce_loss
from dhr_plugins.hashers.dstgeh.sae import (
    StackedAutoEncoder,
    adjacency_rows,
    batch_objective,
    choose_anchors,
    first_order_loss,
    kappas,
    second_order_loss,
    unit_rows,
    weight_regularizer,
)

from dhr_sdk.codes.packing import unpack_bits
from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.core.progress import Progress
from dhr_sdk.model.hash_model import HashModel, load_model, save_model
from dhr_sdk.testing import synthetic_fit_data

FAST: dict[str, Any] = {"n_bits": 16, "sae_hidden": (32,), "pretrain_epochs": 1,
                        "sae_epochs": 4, "head_epochs": 6, "tol": 0.0}


class Recorder(Progress):
    """A quiet Progress that keeps the logged lines."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def _x(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([[u @ v / np.linalg.norm(u) / np.linalg.norm(v) for v in b] for u in a])


def test_adjacency_rows_are_eq_1() -> None:
    x, anchors = _x(4, 3), _x(6, 3, seed=1)
    got = adjacency_rows(unit_rows(torch.from_numpy(x)), unit_rows(torch.from_numpy(anchors)))
    np.testing.assert_allclose(got.numpy(), _cos(x, anchors), atol=1e-12)


def test_anchor_set_bounds_the_row_length() -> None:
    gen = torch.Generator().manual_seed(0)
    np.testing.assert_array_equal(choose_anchors(10, 10, gen).numpy(), np.arange(10))
    a = choose_anchors(100, 30, gen).numpy()
    assert a.shape == (30,) and len(np.unique(a)) == 30 and (np.diff(a) > 0).all()
    b = choose_anchors(100, 30, torch.Generator().manual_seed(5)).numpy()
    c = choose_anchors(100, 30, torch.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(b, c)


def test_kappas_halve_and_sum_to_one() -> None:
    assert kappas(3) == {2: 1.0}
    k = kappas(7)                                  # m = 2, 4, 6 (m = M = 7 excluded)
    assert list(k) == [2, 4, 6]
    assert sum(k.values()) == pytest.approx(1.0)
    assert k[2] / k[4] == pytest.approx(2.0) and k[4] / k[6] == pytest.approx(2.0)
    assert kappas(2) == {}


def _sae() -> StackedAutoEncoder:
    torch.manual_seed(0)
    return StackedAutoEncoder(6, (5, 4), 3, varrho=0.2).double()


def test_sae_layers_are_eq_2() -> None:
    model = _sae()
    u = torch.from_numpy(_x(4, 6))
    f = u.numpy()
    for i, out in enumerate(model.encode(u)):
        lin = cast(torch.nn.Linear, model.encoder[i])
        f = np.tanh(0.2 * (f @ lin.weight.detach().numpy().T + lin.bias.detach().numpy()))
        np.testing.assert_allclose(out.detach().numpy(), f, atol=1e-12)
    dec = model.decode(torch.from_numpy(f))
    assert sorted(dec) == [0, 1, 2] and dec[0].shape == (4, 6) and dec[2].shape == (4, 4)


def test_stage1_loss_terms() -> None:
    model = _sae()
    x, anchors = _x(5, 4, seed=2), _x(6, 4, seed=3)
    u = torch.from_numpy(_cos(x, anchors))
    pairs = torch.from_numpy(_cos(x, x))
    fs = model.encode(u)
    dec = model.decode(fs[-1])
    un, fn = u.numpy(), [f.detach().numpy() for f in fs]
    dn = {k: v.detach().numpy() for k, v in dec.items()}
    mu = 0.7
    l_soh = 1.0 * np.sum((fn[1] - dn[2]) ** 2)                              # Eq. (4), M = 3
    l_so = mu * np.sum((un - dn[0]) ** 2) + (1 - mu) * l_soh                 # Eq. (3)
    assert float(second_order_loss(u, fs, dec, mu).detach()) == pytest.approx(l_so)
    h = fn[-1]
    pn = pairs.numpy()
    l_fo = sum(pn[i, j] * np.sum((h[i] - h[j]) ** 2)                          # Eq. (5)
               for i in range(5) for j in range(5))
    assert float(first_order_loss(pairs, fs[-1]).detach()) == pytest.approx(l_fo, abs=1e-10)
    l_r = 0.5 * sum(np.sum(w.detach().numpy() ** 2)                           # Eq. (6)
                    for w in model.weight_matrices())
    assert float(weight_regularizer(model.weight_matrices()).detach()) == pytest.approx(l_r)
    full, _ = batch_objective(model, u, pairs, 5, mu, 0.9, 0.099, 0.001, "sum")  # Eq. (7), b = N
    assert float(full.detach()) == pytest.approx(0.9 * l_so + 0.099 * l_fo + 0.001 * l_r)
    half, _ = batch_objective(model, u, pairs, 10, mu, 0.9, 0.099, 0.001, "sum")  # b = N / 2
    want = 0.9 * l_so + 0.099 * 2 * l_fo + 0.001 / 2 * l_r
    assert float(half.detach()) == pytest.approx(want)
    mean, _ = batch_objective(model, u, pairs, 10, mu, 0.9, 0.099, 0.001, "mean")
    assert float(mean.detach()) == pytest.approx(0.9 * l_so / 5 + 0.099 * l_fo / 25
                                                 + 0.001 * l_r)


def test_bce_is_eq_11_and_bits_are_eq_12() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 8))
    labels = (rng.random((4, 8)) < 0.5).astype(float)
    s = 1 / (1 + np.exp(-logits))
    want = np.mean(-np.sum(labels * np.log(s) + (1 - labels) * np.log(1 - s), axis=1))
    got = bce_loss(torch.from_numpy(logits), torch.from_numpy(labels))
    assert float(got) == pytest.approx(want)


def test_training_decreases_losses_and_logs_each_epoch() -> None:
    rec = Recorder()
    h = DSTGeHHasher(**FAST).fit(synthetic_fit_data(), rec)
    s1, s2 = h.history_["stage1"], h.history_["stage2"]
    assert len(s1) == 4 and len(s2) == 6
    assert s1[-1] < s1[0] and s2[-1] < s2[0]
    assert any(line.startswith("dstgeh stage 1: epoch 1/4 loss ") for line in rec.lines)
    assert any("adjacency rows x 120 nodes" in line for line in rec.lines)


def test_large_graphs_use_sampled_anchor_columns() -> None:
    rec = Recorder()
    DSTGeHHasher(**FAST, max_columns=50).fit(synthetic_fit_data(), rec)
    assert any("adjacency rows x 50 sampled anchors" in line for line in rec.lines)


def test_codes_separate_clusters_and_encode_without_graph(tmp_path: Path) -> None:
    data = synthetic_fit_data(n=400, d=16, n_classes=4, seed=2)
    h = DSTGeHHasher(n_bits=32, sae_hidden=(64,), sae_epochs=15, head_epochs=20).fit(data)
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
    assert isinstance(back, DSTGeHHasher)
    np.testing.assert_array_equal(back.encode(data.features), h.encode(data.features))
    with pytest.raises(DhrError, match="dimensions"):
        h.encode(data.features[:, :5])


@pytest.mark.parametrize("bad", [{"n_bits": 8}, {"n_bits": 136}, {"n_bits": 44},
                                 {"alpha": 0.5}, {"varrho": 0.0}, {"reduction": "max"}])
def test_invalid_params_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ParamsError):
        DSTGeHHasher(**bad)


def test_paper_defaults() -> None:
    p = DSTGeHHasher().params
    assert (p.n_bits, p.varrho, p.mu, p.alpha, p.beta, p.gamma, p.leaky_slope) == (
        64, 0.2, 0.7, 0.9, 0.099, 0.001, 0.2)
