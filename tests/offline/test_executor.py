"""The executor seam without Ray: jobs, options, the local executor through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dhr_sdk.cli.executor_options import jobs_from
from dhr_sdk.core.errors import DhrError
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.offline.executor import Job, make_executor
from dhr_sdk.offline.executor_api import check_jobs, fresh_hasher
from dhr_sdk.store import Store
from tests.clitools import fail, run, write_images
from tests.plugintools import hasher


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("executor")
    d = load_demo_arrays("mnist")
    return {"tmp": tmp, "a": write_images(tmp / "a", d.images[:30]),
            "b": write_images(tmp / "b", d.images[30:50])}


def test_jobs_pair_collections_with_stores(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b.h5"
    a.mkdir()
    b.write_bytes(b"")
    assert jobs_from([a, b], [], tmp_path / "out") == [
        Job(a, tmp_path / "out/a.h5"), Job(b, tmp_path / "out/b.h5")]
    assert jobs_from([a], [tmp_path / "s.h5"], None, labels=tmp_path / "l.csv") == [
        Job(a, tmp_path / "s.h5", tmp_path / "l.csv")]
    with pytest.raises(DhrError, match="2 collection"):
        jobs_from([a, b], [tmp_path / "s.h5"], None)
    with pytest.raises(DhrError, match="not both"):
        jobs_from([a], [tmp_path / "s.h5"], tmp_path)
    with pytest.raises(DhrError, match="single collection"):
        jobs_from([a, b], [], tmp_path, tags=tmp_path / "t.csv")
    with pytest.raises(DhrError, match="both be written"):
        check_jobs([Job(a, tmp_path / "s.h5"), Job(b, tmp_path / "s.h5")])


def test_executor_choice_and_a_missing_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_executor().name == "local"
    with pytest.raises(DhrError, match="need --executor ray"):
        make_executor("local", "127.0.0.1:6379")
    with pytest.raises(DhrError, match="unknown executor"):
        make_executor("spark")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    monkeypatch.delitem(sys.modules, "dhr_sdk.offline.ray_executor", raising=False)
    with pytest.raises(DhrError, match=r"pip install \"dhr-sdk\[ray\]\""):
        make_executor("ray")


def test_fresh_hasher_is_an_unfitted_copy() -> None:
    h = hasher("lsh", n_bits=16, seed=3)
    h.fit_data = None  # an attribute a fit could leave behind is not copied
    copy = fresh_hasher(h)
    assert copy is not h and copy.params == h.params and not hasattr(copy, "fit_data")


def test_cli_builds_and_encodes_many_collections_locally(folders: dict[str, Path]) -> None:
    tmp, a, b = folders["tmp"], folders["a"], folders["b"]
    built = json.loads(run("build", a, b, "--out-dir", tmp / "built", "-p", "n_bits=16",
                           "-p", "ranker.solver=closed", "--json", "-q"))
    assert [s["elements"]["collection"]["n_images"] for s in built] == [30, 20]
    one = json.loads(run("build", a, "-o", tmp / "one.h5", "-p", "n_bits=16", "-p",
                         "ranker.solver=closed", "--json", "-q"))
    assert np.array_equal(Store(tmp / "one.h5").read_codes().codes,
                          Store(tmp / "built/a.h5").read_codes().codes)
    assert one["elements"]["model"]["hasher"] == "itq"  # one collection: one object
    out = run("encode", a, b, "--model", tmp / "one.h5", "-o", tmp / "ea.h5", "-o",
              tmp / "eb.h5", "-q")
    assert out.count("wrote") == 2 and Store(tmp / "eb.h5").read_codes().codes.shape[0] == 20
    assert "--out-dir" in fail("encode", a, b, "--model", tmp / "one.h5", "-o", tmp / "x.h5")
    assert "--executor ray" in fail("fit", a, "-o", tmp / "m.h5", "--hasher", "lsh",
                                    "--address", "127.0.0.1:1")


def test_the_local_path_never_imports_ray(folders: dict[str, Path]) -> None:
    script = ("import sys; from dhr_sdk.cli.main import main; sys.argv = ['dhr', *sys.argv[1:]]\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "assert 'ray' not in sys.modules, 'ray was imported'")
    tmp = folders["tmp"]
    res = subprocess.run([sys.executable, "-c", script, "build", str(folders["a"]), "-o",
                          str(tmp / "noray.h5"), "-p", "n_bits=16", "-q"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert Store(tmp / "noray.h5").read_codes().codes.shape[0] == 30
