"""Start-up: the commands that run no network never import torch (or torchvision, sklearn,
matplotlib), and the registry still knows every built-in and its params without them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dhr_sdk.testing import clustered_codes

HEAVY = ("torch", "torchvision", "sklearn", "matplotlib")

# Runs the CLI in this process, then prints the heavy modules it imported (stderr: JSON).
CHILD = """
import json, sys
from dhr_sdk.cli.main import cli
try:
    cli(args=sys.argv[1:], prog_name="dhr")
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
sys.stderr.write("\\nHEAVY=" + json.dumps(heavy) + "\\n")
sys.exit(code)
""".replace("{heavy!r}", repr(set(HEAVY)))


def _run(*args: str) -> tuple[str, list[str]]:
    """stdout and the heavy modules imported by ``dhr ARGS`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    heavy = json.loads(proc.stderr.rsplit("HEAVY=", 1)[1])
    return proc.stdout, heavy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("startup")
    codes = clustered_codes(60, 16, 4, 0.05, seed=0)
    np.save(work / "codes.npy", codes)
    np.save(work / "req.npy", codes[:2])
    return work


def test_plugins_json_lists_every_builtin_with_params_without_torch() -> None:
    out, heavy = _run("plugins", "--json")
    assert heavy == []
    listed = {(p["kind"], p["name"]): p for p in json.loads(out)["plugins"]}
    for kind, name, param in [("backbone", "resnet18", "weights"), ("backbone", "pixels", "size"),
                              ("hasher", "nrdh", "gcn_epochs"), ("hasher", "dstgeh", "varrho"),
                              ("hasher", "lagnh", "tag_source"), ("hasher", "gah", "mfb_k"),
                              ("hasher", "itq", "n_bits"), ("ranker", "cpr", "solver"),
                              ("graph_builder", "hamming", "radius"),
                              ("assessor", "importance-list", "radius")]:
        assert param in listed[(kind, name)]["params_schema"]["properties"], (kind, name)
    assert len([k for k in listed if k[0] == "backbone"]) == 8
    assert len([k for k in listed if k[0] == "hasher"]) == 8


def test_offline_and_code_commands_never_import_torch(store: Path) -> None:
    s = str(store / "s.h5")
    steps = [("import-codes", str(store / "codes.npy"), s, "-q"),
             ("graph", s, "-q"),
             ("rank", s, "-q"),
             ("info", s),
             ("assess", s, "--requirement-codes", str(store / "req.npy"), "-q")]
    for args in steps:
        _, heavy = _run(*args)
        assert heavy == [], (args[0], heavy)
