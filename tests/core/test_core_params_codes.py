"""Params parsing/validation and the packed code format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import Field

from dhr_sdk.codes.packing import check_packed, hamming_matrix, pack_bits, to_words, unpack_bits
from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.core.params import Params, build_params, load_config, parse_key_values


class Demo(Params):
    radius: int = Field(2, ge=0, description="Ω")
    damping: float | None = Field(None, description="teleport")
    layers: list[int] = Field(default_factory=lambda: [64], description="sizes")


def test_key_values_are_json_or_strings() -> None:
    got = parse_key_values(["radius=3", "damping=0.85", "layers=[1,2]", "name=cpr", "e=1e-4"])
    assert got == {"radius": 3, "damping": 0.85, "layers": [1, 2], "name": "cpr", "e": 1e-4}
    with pytest.raises(ParamsError, match="key=value"):
        parse_key_values(["radius"])


def test_validation_errors_are_one_readable_line() -> None:
    with pytest.raises(ParamsError) as err:
        build_params(Demo, {"radius": -1, "radious": 2}, "graph builder 'hamming'")
    msg = str(err.value)
    assert "\n" not in msg and "graph builder 'hamming'" in msg
    assert "radius: Input should be greater than or equal to 0" in msg
    assert "radious: unknown parameter" in msg
    assert build_params(Demo, {"radius": "4"}, "x").radius == 4


def test_toml_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ranker]\nsolver = "closed-form"\n[graph_builder]\nradius = 3\n')
    assert load_config(cfg)["graph_builder"] == {"radius": 3}
    cfg.write_text("[ranker\n")
    with pytest.raises(DhrError, match="not valid TOML"):
        load_config(cfg)
    with pytest.raises(DhrError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("n_bits", [8, 16, 24, 64, 72, 256])
def test_pack_unpack_and_hamming_against_naive(n_bits: int) -> None:
    rng = np.random.default_rng(n_bits)
    bits = rng.integers(0, 2, size=(7, n_bits))
    packed = pack_bits(bits)
    assert packed.shape == (7, n_bits // 8) and np.array_equal(unpack_bits(packed), bits)
    assert np.array_equal(pack_bits(2 * bits - 1), packed)  # ±1 input
    naive = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    assert np.array_equal(hamming_matrix(packed, packed), naive)
    words = to_words(packed)
    assert words.dtype == np.uint64 and words.shape == (7, -(-n_bits // 64))


def test_bad_code_arrays_are_clear_errors() -> None:
    with pytest.raises(DhrError, match="multiple of 8"):
        pack_bits(np.zeros((2, 12)))
    with pytest.raises(DhrError, match="uint8"):
        check_packed(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(DhrError, match="expected 32"):
        check_packed(np.zeros((2, 2), dtype=np.uint8), 32)
