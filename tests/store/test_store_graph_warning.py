"""``dhr graph`` and ``dhr build`` warn when most codes are isolated (issue #20, item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.cli.main import cli
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.offline.relevance import (
    ISOLATED_WARNING_FRACTION,
    SparseGraphWarning,
    build_graph,
    graph_and_rank,
    import_codes,
    isolated_codes_warning,
)
from dhr_sdk.testing import clustered_codes
from tests.plugintools import graph_and_ranker


def _store(tmp_path: Path, codes: np.ndarray, name: str) -> Path:
    np.save(tmp_path / f"{name}.npy", codes)
    import_codes(tmp_path / f"{name}.h5", tmp_path / f"{name}.npy")
    return tmp_path / f"{name}.h5"


@pytest.fixture
def sparse(tmp_path: Path) -> Path:
    """600 random 64-bit codes: almost none within radius 2 of another."""
    rng = np.random.default_rng(0)
    return _store(tmp_path, rng.integers(0, 256, size=(600, 8), dtype=np.uint8), "sparse")


@pytest.fixture
def dense(tmp_path: Path) -> Path:
    """600 64-bit codes around 6 centres: every code has neighbours."""
    return _store(tmp_path, clustered_codes(600, 64, 6, 0.01, seed=0), "dense")


def test_library_callers_get_a_python_warning(sparse: Path) -> None:
    with pytest.warns(SparseGraphWarning, match=r"have no neighbour within Hamming radius 2"):
        summary = build_graph(sparse, graph_and_ranker()["builder"])
    assert summary["isolated_fraction"] > ISOLATED_WARNING_FRACTION
    (advice,) = summary["warnings"]
    assert "fewer bits (n_bits=32 when fitting)" in advice and "(-p radius=3)" in advice
    with pytest.warns(SparseGraphWarning) as record:
        out = graph_and_rank(sparse, **graph_and_ranker())
    assert "-p n_bits=32" in str(record[0].message) and "-p graph.radius=3" in out["warnings"][0]


def test_well_connected_codes_give_no_warning(dense: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SparseGraphWarning)
        summary = build_graph(dense, graph_and_ranker()["builder"])
        graph_and_rank(dense, **graph_and_ranker())
    assert summary["warnings"] == [] and summary["isolated_fraction"] < 0.5
    res = CliRunner().invoke(cli, ["graph", str(dense), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["warnings"] == []


def test_graph_json_has_the_field_and_stderr_has_one_warning_line(sparse: Path) -> None:
    with pytest.warns(SparseGraphWarning):
        res = CliRunner().invoke(cli, ["graph", str(sparse), "--json"])
    data = json.loads(res.output)
    assert res.exit_code == 0 and len(data["warnings"]) == 1
    assert data["isolated_nodes"] > data["nodes"] / 2
    proc = subprocess.run([sys.executable, "-m", "dhr_sdk", "graph", str(sparse), "-q"],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "DHR_PLUGINS": "hamming"})
    lines = [ln for ln in proc.stderr.splitlines() if "no neighbour" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "-p radius=3" in lines[0]
    assert "isolated nodes" in proc.stdout


def test_build_reports_the_warning_in_its_json(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(load_demo_arrays("mnist").images[:100]):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    with pytest.warns(SparseGraphWarning):
        res = CliRunner().invoke(cli, ["build", str(folder), "-o", str(tmp_path / "s.h5"),
                                       "-p", "n_bits=64", "-p", "ranker.solver=closed",
                                       "--json"])
    assert res.exit_code == 0, res.output
    (advice,) = json.loads(res.output)["warnings"]
    assert "-p n_bits=32" in advice and "-p graph.radius=3" in advice


def test_the_threshold() -> None:
    base = {"merged": True, "radius": 2, "n_bits": 8}
    assert isolated_codes_warning({**base, "nodes": 100, "isolated_nodes": 50}) is None
    advice = isolated_codes_warning({**base, "nodes": 100, "isolated_nodes": 51})
    assert advice is not None and "fewer bits" not in advice  # 8 bits is the shortest code
    assert isolated_codes_warning({**base, "nodes": 19, "isolated_nodes": 19}) is None
