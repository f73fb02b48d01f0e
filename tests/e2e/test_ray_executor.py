"""The Ray executor on real local clusters gives the local executor's stores, bit for bit.

Two clusters: Ray started in this process (``ray.init(num_cpus=2)``), and a head started
with ``ray start --head`` on this machine that the CLI joins by ``--address
127.0.0.1:PORT``. Tiny data, ``pixels`` features, shards smaller than a collection so
each is split across actors.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.core.progress import QUIET
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import load_model
from dhr_sdk.offline.executor import Job, LocalExecutor
from dhr_sdk.offline.pipeline import FeatureOptions
from tests.clitools import free_port, run, write_images
from tests.plugintools import backbone, graph_and_ranker, hasher
from tests.storetools import assert_same_stores

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

OPTIONS = FeatureOptions(batch_size=8, workers=0)
SHARD = 16  # images per shard: a 41-image collection is 3 shards
STORE_MB = 200
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_DOCKER_CPU_WARNING": "1"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two collections (one with an undecodable file) and the local executor's stores."""
    tmp = tmp_path_factory.mktemp("ray")
    d = load_demo_arrays("mnist")
    a = write_images(tmp / "a", d.images[:40])
    (a / "broken.png").write_bytes(b"not an image")
    b = write_images(tmp / "b", d.images[40:70])
    local = tmp / "local"
    ex = LocalExecutor()
    ex.fit([a, b], local / "m.h5", hasher("itq", n_bits=16, n_iter=5), backbone(),
           options=OPTIONS)
    model = load_model(local / "m.h5")
    ex.encode([Job(a, local / "a.h5"), Job(b, local / "b.h5")], model, options=OPTIONS)
    ex.build([Job(a, local / "build-a.h5"), Job(b, local / "build-b.h5")],
             hasher("lsh", n_bits=16, seed=7), backbone=backbone(), options=OPTIONS,
             **graph_and_ranker())
    return {"tmp": tmp, "a": a, "b": b, "local": local}


@pytest.fixture
def ray_here(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ray started in this process with 2 CPUs and a small object store; shut down after."""
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    ray.init(address="local", num_cpus=2, object_store_memory=STORE_MB * 2**20,
             include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_in_process_cluster_gives_the_local_stores(world: dict[str, Path],
                                                   ray_here: None) -> None:
    from dhr_sdk.offline.ray_executor import RayExecutor

    a, b, local, out = world["a"], world["b"], world["local"], world["tmp"] / "ray-here"
    ex = RayExecutor(actors=2, shard_size=SHARD)
    ex.fit([a, b], out / "m.h5", hasher("itq", n_bits=16, n_iter=5), backbone(),
           options=OPTIONS, progress=QUIET)
    assert_same_stores(local / "m.h5", out / "m.h5")
    recs = ex.encode([Job(a, out / "a.h5"), Job(b, out / "b.h5")], load_model(out / "m.h5"),
                     options=OPTIONS)
    assert [r.codes.shape[0] for r in recs] == [40, 30]  # the broken file is skipped
    stores = ex.build([Job(a, out / "build-a.h5"), Job(b, out / "build-b.h5")],
                      hasher("lsh", n_bits=16, seed=7), backbone=backbone(), options=OPTIONS,
                      **graph_and_ranker())
    assert [s.read_collection().skipped for s in stores] == [["broken.png"], []]
    for name in ("a.h5", "b.h5", "build-a.h5", "build-b.h5"):
        assert_same_stores(local / name, out / name)
    assert ray.is_initialized()  # a Ray the caller started is left running


def _session_pids(sid: int) -> list[int]:
    """Processes of session ``sid`` still alive (not zombies)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True,
                         check=True).stdout
    rows = (line.split() for line in out.splitlines())
    return [int(p) for p, s, st, *_ in rows if int(s) == sid and not st.startswith("Z")]


@pytest.fixture
def head() -> Iterator[str]:
    """``ray start --head`` on this machine in its own session, with a private temp dir,
    joined as ``127.0.0.1:PORT`` (Ray itself turns a loopback address into the machine's
    own, so the head listens there). It returns once the head is up; afterwards every
    process of that session is killed, and none may survive."""
    tmp = Path(tempfile.mkdtemp(prefix="dhr-ray-"))
    port = free_port()
    ray_bin = Path(sys.executable).with_name("ray")
    start = subprocess.Popen(
        [str(ray_bin), "start", "--head", f"--port={port}", "--num-cpus=2",
         f"--object-store-memory={STORE_MB * 2**20}", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={tmp}"],
        env={**os.environ, **RAY_ENV}, start_new_session=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    sid = start.pid  # the session (and process group) of every process of the cluster
    try:
        out, _ = start.communicate(timeout=180)
        assert start.returncode == 0, out
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            start.communicate(timeout=1)
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sid, sig)
            deadline = time.monotonic() + wait
            while _session_pids(sid) and time.monotonic() < deadline:
                time.sleep(0.5)
        left = _session_pids(sid)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"Ray processes survived the cluster: {left}"


def test_cli_joins_a_started_cluster_by_address(world: dict[str, Path], head: str) -> None:
    a, b, local, out = world["a"], world["b"], world["local"], world["tmp"] / "ray-head"
    assert not ray.is_initialized()
    common = ["--batch-size", "8", "--workers", "0", "-q"]
    run("build", a, b, "-o", out / "build-a.h5", "-o", out / "build-b.h5", "--hasher", "lsh",
        "-p", "n_bits=16", "-p", "seed=7", "-p", "ranker.solver=closed", *common,
        "--executor", "ray", "--address", head, "--shard-size", SHARD)
    res = CliRunner().invoke(cli, [str(x) for x in (
        "encode", a, b, "--model", local / "m.h5", "--out-dir", out, *common, "--executor",
        "ray", "--address", head, "--actors", 2, "--shard-size", SHARD, "--json")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)  # Ray's own log lines go to stderr
    assert [s["n_images"] for s in summary] == [40, 30]
    assert not ray.is_initialized()  # the command shut its connection down
    for name in ("a.h5", "b.h5", "build-a.h5", "build-b.h5"):
        assert_same_stores(local / name, out / name)
