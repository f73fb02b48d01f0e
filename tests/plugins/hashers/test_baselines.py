"""Classic baseline hashers (LSH, PCAH, ITQ, SH) against their definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from dhr_plugins.hashers.itq import ITQHasher, itq_rotation
from dhr_plugins.hashers.lsh import LSHHasher
from dhr_plugins.hashers.pcah import PCAHHasher
from dhr_plugins.hashers.sh import SHHasher, spectral_modes

from dhr_sdk.codes.packing import hamming_matrix, unpack_bits
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import FitData
from dhr_sdk.testing import synthetic_fit_data


def anisotropic(n: int = 400, d: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(5, 0.5, d) + 3.0


def test_pcah_projects_on_leading_principal_components() -> None:
    x = anisotropic()
    h = PCAHHasher(n_bits=8).fit(FitData(x))
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    for j in range(8):  # same directions up to sign, in order of decreasing variance
        assert abs(abs(h.projection_[:, j] @ vt[j]) - 1) < 1e-8
    bits = unpack_bits(h.encode(x))
    assert np.array_equal(bits, (centred @ h.projection_ > 0).astype(np.uint8))
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.15)  # centred PCA bits are balanced


def test_itq_rotation_is_orthogonal_and_reduces_quantisation_loss() -> None:
    x = anisotropic(600, 24, seed=1)
    centred = x - x.mean(axis=0)
    h = ITQHasher(n_bits=16, n_iter=50).fit(FitData(x))
    pcah = PCAHHasher(n_bits=16).fit(FitData(x))
    v = centred @ pcah.projection_
    rot, losses = itq_rotation(v, 50, seed=0)
    assert np.allclose(rot.T @ rot, np.eye(16), atol=1e-10)
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(losses))
    assert losses[-1] < losses[0]
    assert np.allclose(h.projection_, pcah.projection_ @ rot)

    def loss(z: np.ndarray) -> float:
        return float(np.sum((np.where(z >= 0, 1.0, -1.0) - z) ** 2))

    assert loss(v @ rot) < loss(v)  # better than no rotation (PCAH)
    assert not np.array_equal(ITQHasher(n_bits=16, seed=1).fit(FitData(x)).encode(x), h.encode(x))


def test_lsh_hamming_distance_estimates_angle() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 16))
    h = LSHHasher(n_bits=256, center=False).fit(FitData(x))
    codes = h.encode(x)
    frac = hamming_matrix(codes, codes) / 256
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    angle = np.arccos(np.clip(unit @ unit.T, -1, 1)) / np.pi
    assert np.abs(frac - angle).mean() < 0.03  # Charikar: P[bit differs] = angle / pi
    centred = LSHHasher(n_bits=16).fit(FitData(x + 10))
    assert np.allclose(centred.mean_, (x + 10).mean(axis=0))


def test_spectral_modes_hand_computed() -> None:
    # spans 2 and 1, 3 bits: modes per dim ceil(4 * [2, 1] / 2) = [4, 2]
    # eigenvalues (m pi / R)^2: d0 -> 2.47, 9.87, 22.2; d1 -> 9.87 (tie: authors' order)
    modes = spectral_modes(np.array([2.0, 1.0]), 3)
    assert modes.tolist() == [[1, 0], [2, 0], [0, 1]]


def test_sh_first_bit_splits_the_first_principal_direction_at_its_midpoint() -> None:
    x = anisotropic(500, 10, seed=4)
    h = SHHasher(n_bits=8).fit(FitData(x))
    u = (x - h.mean_) @ h.pc_
    mid = (h.mn_[0] + h.mx_[0]) / 2
    bits = unpack_bits(h.encode(x))
    assert h.modes_[0].tolist() == [1] + [0] * (h.modes_.shape[1] - 1)
    assert np.array_equal(bits[:, 0], (u[:, 0] < mid).astype(np.uint8))
    # every bit is the sign of cos(m pi (u_k - mn_k) / R_k) of its single mode
    k = h.modes_.argmax(axis=1)
    m = h.modes_.max(axis=1)
    ref = np.cos(m * np.pi * (u[:, k] - h.mn_[k]) / (h.mx_[k] - h.mn_[k])) > 0
    assert np.array_equal(bits, ref.astype(np.uint8))


@pytest.mark.parametrize("cls", [PCAHHasher, ITQHasher])
def test_pca_methods_need_enough_dimensions(cls: type) -> None:
    with pytest.raises(DhrError, match="64 bits need"):
        cls(n_bits=64).fit(FitData(np.random.default_rng(0).normal(size=(100, 32))))


@pytest.mark.parametrize("cls", [LSHHasher, PCAHHasher, ITQHasher, SHHasher])
def test_wrong_feature_dimension_is_a_user_error(cls: type) -> None:
    data = synthetic_fit_data()
    h = cls(n_bits=16).fit(data)
    with pytest.raises(DhrError, match="dimensions"):
        h.encode(data.features[:, :10])
    with pytest.raises(DhrError, match="NaN"):
        h.encode(np.full_like(data.features, np.nan))


@pytest.mark.parametrize("cls", [LSHHasher, PCAHHasher, ITQHasher, SHHasher])
def test_state_round_trip_through_plain_arrays(cls: type) -> None:
    data = synthetic_fit_data()
    h = cls(n_bits=16).fit(data)
    state = h.get_state()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    again = cls(n_bits=16).set_state(state)
    assert np.array_equal(again.encode(data.features), h.encode(data.features))
    with pytest.raises(DhrError):
        cls(n_bits=24).set_state(state)
