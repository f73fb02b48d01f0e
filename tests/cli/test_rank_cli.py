"""CLI: dhr import-codes, dhr graph, dhr rank, dhr info; and the library functions behind them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.codes.packing import unpack_bits
from dhr_sdk.core.errors import DhrError
from dhr_sdk.offline.relevance import codes_from_array, import_codes
from dhr_sdk.store import Store
from dhr_sdk.testing import clustered_codes


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def store(tmp_path: Path) -> Path:
    codes = clustered_codes(200, 32, 6, 0.03, seed=0)
    np.save(tmp_path / "codes.npy", codes)
    (tmp_path / "names.txt").write_text("\n".join(f"img{i}.jpg" for i in range(200)))
    out = tmp_path / "s.h5"
    code, text = _invoke("import-codes", str(tmp_path / "codes.npy"), str(out),
                         "--names", str(tmp_path / "names.txt"), "--json")
    assert code == 0, text
    report = json.loads(text)
    assert report["images"] == 200 and report["n_bits"] == 32 and report["format"] == "packed"
    assert Store(out).read_collection().image_ids[3] == "img3.jpg"
    return out


def test_graph_rank_info_round_trip(store: Path) -> None:
    code, text = _invoke("graph", str(store), "-p", "radius=2", "--json")
    assert code == 0, text
    g = json.loads(text)
    assert g["builder"] == "hamming" and g["merged"] and g["images"] == 200
    assert g["nodes"] < 200 and {"edges", "components", "isolated_nodes", "seconds"} <= set(g)
    code, text = _invoke("rank", str(store), "--ranker", "cpr", "-p", "solver=closed", "--json")
    assert code == 0, text
    r = json.loads(text)
    assert r["ranker"] == "cpr" and r["converged"] and r["rows"] == g["nodes"]
    assert r["images"] == 200 and r["top"][0]["order"] == 1
    assert r["top"][0]["score"] >= r["top"][-1]["score"]
    il = Store(store).read_importance()
    assert il.codes[0].tobytes().hex() == r["top"][0]["code"]
    for row in r["top"]:  # file names (the --names of import-codes) and their indices
        assert row["image_ids"] == [f"img{i}.jpg" for i in row["image_indices"]]
    code, text = _invoke("rank", str(store), "--top", "2")
    first = r["top"][0]["image_ids"][0]
    assert code == 0 and "D (image ids)" in text and f"  {first}" in text
    code, text = _invoke("info", str(store))
    assert code == 0 and "components=" in text and "converged=True" in text
    code, text = _invoke("rank", str(store), "--ranker", "shr", "--top", "3", "-p",
                         "solver=power")
    assert code == 0 and "shr (power)" in text and "H (hex)" in text


def test_non_convergence_is_one_warning_line_and_recorded(tmp_path: Path) -> None:
    bits = np.zeros((4, 8), dtype=np.uint8)
    for leaf in range(1, 4):
        bits[leaf, leaf] = 1  # a star: bipartite, oscillates
    np.save(tmp_path / "star.npy", bits)
    out = tmp_path / "star.h5"
    assert _invoke("import-codes", str(tmp_path / "star.npy"), str(out), "-q")[0] == 0
    assert _invoke("graph", str(out), "-p", "radius=1", "-q")[0] == 0
    with pytest.warns(UserWarning, match="did not converge in 20 iterations"):
        code, text = _invoke("rank", str(out), "-p", "solver=power", "-p", "max_iter=20", "-q")
    assert code == 0 and "NOT converged" in text
    # outside pytest's warning capture the CLI prints the warning as one line on stderr
    proc = subprocess.run([sys.executable, "-m", "dhr_sdk", "rank", str(out), "-q", "-p",
                           "solver=power", "-p", "max_iter=20"], capture_output=True,
                          text=True, check=True, env={**os.environ, "DHR_PLUGINS": "cpr"})
    lines = [ln for ln in proc.stderr.splitlines() if "did not converge" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: cpr: power iteration")
    rank = Store(out).read_rank()
    assert not rank.converged and rank.iterations == 20 and rank.residual > 1e-4
    code, text = _invoke("info", str(out), "--json")
    info = json.loads(text)["elements"]
    assert info["rank"]["converged"] is False and info["graph"]["components"] == 1


def test_user_errors_are_one_line(tmp_path: Path, store: Path) -> None:
    code, text = _invoke("rank", str(store))
    assert code == 1 and "run 'dhr graph' first" in text and "Traceback" not in text
    code, text = _invoke("graph", str(store), "-p", "radius=-3")
    assert code == 1 and "radius" in text
    code, text = _invoke("graph", str(store), "-p", "nope=1")
    assert code == 1 and "unknown parameter" in text
    code, text = _invoke("rank", str(store), "--ranker", "pagerank")
    assert code == 1 and "available" in text
    code, text = _invoke("import-codes", str(tmp_path / "codes.npy"), str(store))
    assert code == 1 and "already exists" in text
    np.save(tmp_path / "bad.npy", np.ones((3, 12), dtype=np.uint8))  # 12 bits
    code, text = _invoke("import-codes", str(tmp_path / "bad.npy"), str(tmp_path / "b.h5"))
    assert code == 1 and "multiple of 8" in text


def test_codes_from_array_formats() -> None:
    packed = clustered_codes(20, 16, 3, 0.1, seed=1)
    bits = unpack_bits(packed)
    for arr, fmt in ((packed, "packed"), (bits, "bits"), (bits.astype(bool), "bits"),
                     (bits.astype(np.int8) * 2 - 1, "bits"), (bits.astype(float), "bits")):
        out, n_bits, used = codes_from_array(arr)
        assert used == fmt and n_bits == 16
        np.testing.assert_array_equal(out, packed)
    # an all-0/1 uint8 array is read as bits unless told otherwise
    zero_one = np.eye(8, dtype=np.uint8)[:4]
    assert codes_from_array(zero_one)[1:] == (8, "bits")
    assert codes_from_array(zero_one, "packed")[1:] == (64, "packed")
    assert codes_from_array(np.ones((4, 2), np.uint8), "packed")[1] == 16
    assert codes_from_array(np.ones((4, 2), np.uint8), n_bits=16)[2] == "packed"
    with pytest.raises(DhrError):
        codes_from_array(bits * 3, "bits")
    with pytest.raises(DhrError):
        codes_from_array(packed, n_bits=24)


def test_import_npz_with_names_and_library_names(tmp_path: Path) -> None:
    packed = clustered_codes(10, 8, 2, 0.1, seed=2)
    np.savez(tmp_path / "c.npz", codes=unpack_bits(packed).astype(np.int8) * 2 - 1,
             names=np.array([f"n{i}" for i in range(10)]))
    summary = import_codes(tmp_path / "c.h5", tmp_path / "c.npz")
    assert summary["format"] == "bits" and summary["images"] == 10
    store = Store(tmp_path / "c.h5")
    np.testing.assert_array_equal(store.read_codes().codes, packed)
    assert store.read_collection().image_ids[9] == "n9"
    with pytest.raises(DhrError, match="names"):
        (tmp_path / "n.txt").write_text("a\nb\n")
        import_codes(tmp_path / "d.h5", tmp_path / "c.npz", tmp_path / "n.txt")
