"""CLI basics: --version, plugins (incl. a third-party distribution), info, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dhr_sdk import __version__
from dhr_sdk.cli.main import cli
from dhr_sdk.core import registry as plugins
from dhr_sdk.store import CodesRecord, Provenance, Store
from dhr_sdk.testing import clustered_codes
from tests.fakedist import make_distribution

EXAMPLE_SRC = Path(__file__).resolve().parents[2] / "examples" / "dhr-sklsh" / "src"


@pytest.fixture
def sklsh_installed(tmp_path: Path, fresh_plugins: pytest.MonkeyPatch) -> Path:
    """The example plugin as an installed distribution: its dist-info + source on sys.path."""
    site = make_distribution(tmp_path / "site", "dhr-sklsh", {"sklsh": "dhr_sklsh"}, {},
                             version="0.1.0")
    fresh_plugins.syspath_prepend(str(EXAMPLE_SRC))
    fresh_plugins.syspath_prepend(str(site))
    return site


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_plugins_json_lists_third_party_plugin_with_schema(sklsh_installed: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    sk = [p for p in report["plugins"] if p["name"] == "sklsh"]
    assert sk and sk[0]["kind"] == "hasher" and sk[0]["distribution"] == "dhr-sklsh"
    assert sk[0]["version"] == "0.1.0"
    assert sk[0]["params_schema"]["properties"]["n_bits"]["default"] == 64


def test_third_party_plugin_is_usable_by_name(sklsh_installed: Path) -> None:
    from dhr_sdk.testing import synthetic_fit_data

    hasher = plugins.get_registry().create("hasher", "sklsh", {"n_bits": 32, "seed": 3})
    data = synthetic_fit_data()
    assert hasher.fit(data).encode(data.features).shape == (len(data.features), 4)


def test_disabling_a_plugin_by_environment_removes_it(sklsh_installed: Path,
                                                      fresh_plugins: pytest.MonkeyPatch) -> None:
    fresh_plugins.setenv("DHR_DISABLE_PLUGINS", "sklsh")
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert "sklsh" not in {p["name"] for p in json.loads(result.output)["plugins"]}


def test_plugins_in_a_real_process(sklsh_installed: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sklsh_installed), str(EXAMPLE_SRC)])}
    out = subprocess.run([sys.executable, "-m", "dhr_sdk", "plugins"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "sklsh" in out and "dhr-sklsh" in out


def test_info_text_and_json(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s.h5")
    with store.edit() as w:
        w.write_codes(CodesRecord(clustered_codes(9, 16, 2, 0.1), 16,
                                  Provenance("lsh", "hasher", params={"n_bits": 16}, seed=0)))
    text = CliRunner().invoke(cli, ["info", str(store.path)])
    assert text.exit_code == 0 and "codes: n_codes=9, n_bits=16" in text.output
    data = json.loads(CliRunner().invoke(cli, ["info", str(store.path), "--json"]).output)
    assert data["elements"]["codes"]["provenance"]["plugin"] == "lsh"


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all"])
def test_user_errors_are_one_line_without_traceback(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(content)
    result = CliRunner().invoke(cli, ["info", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {bad} is not a dhr store (not an HDF5 file)"
    assert "Traceback" not in result.output


def test_third_party_plugin_passes_the_conformance_suite(sklsh_installed: Path,
                                                         tmp_path: Path) -> None:
    from dhr_sdk.testing import check_plugin

    check_plugin(plugins.get_registry().get("hasher", "sklsh").cls, tmp_path)
