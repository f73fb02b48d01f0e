"""Bring your own codes end to end: import-codes -> graph -> rank -> assess, no hasher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.codes.packing import unpack_bits
from dhr_sdk.testing import clustered_codes


def _store_from_codes(tmp_path: Path, name: str, codes: np.ndarray) -> Path:
    np.save(tmp_path / f"{name}.npy", unpack_bits(codes).astype(np.int8) * 2 - 1)  # ±1 input
    store = tmp_path / f"{name}.h5"
    runner = CliRunner()
    for args in (["import-codes", str(tmp_path / f"{name}.npy"), str(store)],
                 ["graph", str(store)], ["rank", str(store), "-p", "solver=closed", "-q"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return store


def test_assess_imported_codes_with_requirement_codes(tmp_path: Path) -> None:
    wanted = clustered_codes(400, 32, 4, 0.02, seed=1)       # rich in the requirement's codes
    other = clustered_codes(400, 32, 4, 0.02, seed=2)        # other centres
    rich = _store_from_codes(tmp_path, "rich", wanted)
    poor = _store_from_codes(tmp_path, "poor", other)
    np.save(tmp_path / "req.npy", wanted[:5])                 # packed uint8 requirement codes
    result = CliRunner().invoke(cli, ["assess", "--requirement-codes", str(tmp_path / "req.npy"),
                                      str(poor), str(rich), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [r["collection"] for r in report["results"]] == ["rich", "poor"]
    assert report["results"][0]["relevance"] > report["results"][1]["relevance"]
    assert report["models"][0]["hasher"] is None and report["models"][0]["n_bits"] == 32


def test_requirement_codes_of_the_wrong_length_and_both_inputs_are_errors(tmp_path: Path) -> None:
    store = _store_from_codes(tmp_path, "s", clustered_codes(50, 32, 2, 0.02))
    np.save(tmp_path / "req16.npy", clustered_codes(2, 16, 1, 0.0))
    bad = CliRunner().invoke(cli, ["assess", "--requirement-codes", str(tmp_path / "req16.npy"),
                                   str(store)])
    assert bad.exit_code == 1 and "16 bits" in bad.output and "32-bit" in bad.output
    both = CliRunner().invoke(cli, ["assess", "-r", str(tmp_path), "--requirement-codes",
                                    str(tmp_path / "req16.npy"), str(store)])
    assert both.exit_code == 2 and "not both" in both.output


def test_images_against_a_store_without_model_point_to_codes(tmp_path: Path) -> None:
    store = _store_from_codes(tmp_path, "s", clustered_codes(50, 32, 2, 0.02))
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "q.png")
    result = CliRunner().invoke(cli, ["assess", "-r", str(tmp_path / "q.png"), str(store)])
    assert result.exit_code == 1 and "--requirement-codes" in result.output
