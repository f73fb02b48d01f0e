"""NRDH and DSTGeH through the CLI: fit on a real demo collection, encode another one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.model.hash_model import load_model
from dhr_sdk.store import Store

FAST = {"nrdh": ["gcn_epochs=2", "head_epochs=2"],
        "dstgeh": ["sae_hidden=[32]", "pretrain_epochs=1", "sae_epochs=2", "head_epochs=2"]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    res = CliRunner().invoke(cli, ["demo-data", str(out), "--per-collection", "60",
                                   "--requirement-size", "2", "--multilabel-size", "0", "-q"])
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("name", ["nrdh", "dstgeh"])
def test_fit_then_encode_a_new_collection(name: str, demo: Path, tmp_path: Path) -> None:
    folders = sorted((demo / "collections").iterdir())
    model = tmp_path / "model.h5"
    args = ["fit", str(folders[0]), "--hasher", name, "-o", str(model), "-p", "n_bits=16"]
    for kv in FAST[name]:
        args += ["-p", kv]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert load_model(model).hasher.name == name
    store = tmp_path / "other.h5"
    res = CliRunner().invoke(cli, ["encode", str(folders[1]), "--model", str(model),
                                   "-o", str(store), "-q"])
    assert res.exit_code == 0, res.output
    codes = Store(store).read_codes()
    assert codes.codes.shape == (60, 2)


def test_bad_param_is_one_line(tmp_path: Path, demo: Path) -> None:
    folder = sorted((demo / "collections").iterdir())[0]
    res = CliRunner().invoke(cli, ["fit", str(folder), "--hasher", "nrdh", "-o",
                                   str(tmp_path / "m.h5"), "-p", "n_bits=12"])
    assert res.exit_code != 0
    assert "n_bits" in res.output and "Traceback" not in res.output
