"""dhr serve's life cycle: reloading rebuilt and new stores, start-up errors, the optional
web stack, and the ``dhr serve`` command as a real process."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from dhr_sdk.assessment.assess import make_assessor
from dhr_sdk.cli import serve_cmd
from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.serve.app import PROCESS_HEADER, create_app
from dhr_sdk.serve.state import ServerState
from dhr_sdk.store import Store
from tests.clitools import free_port
from tests.serve.servetools import Server, upload


def _zeros_count(client: httpx.Client, world: dict[str, Path]) -> dict[str, float]:
    files, _ = upload(world["req"])
    got = client.post("/v1/assess", files=files).json()
    return {c["name"]: c["estimate"]["count"] for c in got["collections"]}


def test_reload_picks_up_rebuilt_and_new_stores(world: dict[str, Path],
                                                tmp_path: Path) -> None:
    served = tmp_path / "stores"
    served.mkdir()
    shutil.copy(world["tmp"] / "zeros.h5", served / "zeros.h5")
    shutil.copy(world["tmp"] / "ones.h5", served / "ones.h5")
    s = Server(create_app([served]))
    try:
        before = _zeros_count(s.client, world)
        assert set(before) == {"zeros", "ones"}
        assert s.client.post("/v1/reload").json()["unchanged"] == ["ones", "zeros"]
        # 'ones' rebuilt from the zeros folder (atomically, as dhr writes), 'twos' new
        rebuilt = tmp_path / "ones.h5"
        shutil.copy(world["tmp"] / "zeros.h5", rebuilt)
        os.replace(rebuilt, served / "ones.h5")
        shutil.copy(world["tmp"] / "twos.h5", served / "twos.h5")
        r = s.client.post("/v1/reload").json()
        assert (r["reloaded"], r["added"], r["removed"], r["failed"]) == (["ones"], ["twos"],
                                                                         [], [])
        assert [c["name"] for c in r["collections"]] == ["ones", "zeros", "twos"]
        after = _zeros_count(s.client, world)
        assert after["ones"] == after["zeros"] == before["zeros"] and "twos" in after
        # a broken rebuild and a broken new file: reported, the served version stays
        (served / "ones.h5").write_bytes(b"not a store")
        (served / "junk.h5").write_bytes(b"")
        r = s.client.post("/v1/reload").json()
        assert sorted(f["name"] for f in r["failed"]) == ["junk", "ones"]
        assert all("\n" not in f["detail"] for f in r["failed"])
        assert _zeros_count(s.client, world)["ones"] == after["ones"]
        (served / "twos.h5").unlink()
        r = s.client.post("/v1/reload").json()
        assert r["removed"] == ["twos"]
        assert "twos" not in _zeros_count(s.client, world)
    finally:
        s.stop()


def test_freeze_heap_hides_resident_state_and_frees_replaced_stores(
        world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server process freezes what it loaded (full collections skip it), and a reload
    still frees the store it replaced: the freeze is redone, not stacked."""
    from dhr_sdk.serve import state as state_module

    freezes: list[int] = []

    def counted() -> None:
        freezes.append(1)
        real_freeze()

    real_freeze = state_module.freeze_resident
    monkeypatch.setattr(state_module, "freeze_resident", counted)
    served = tmp_path / "stores"
    served.mkdir()
    for name in ("zeros.h5", "ones.h5"):
        shutil.copy(world["tmp"] / name, served / name)
    gc.unfreeze()
    assert ServerState([served]).collections and gc.get_freeze_count() == 0  # off by default
    state = ServerState([served], freeze_heap=True)
    try:
        assert gc.get_freeze_count() > 0 and len(freezes) == 1
        replaced = weakref.ref(state.collections["ones"].target.importance)
        assert state.reload().unchanged == ["ones", "zeros"]
        assert len(freezes) == 1  # nothing changed: nothing redone
        rebuilt = tmp_path / "ones.h5"
        shutil.copy(world["tmp"] / "zeros.h5", rebuilt)
        os.replace(rebuilt, served / "ones.h5")
        assert state.reload().reloaded == ["ones"]
        assert len(freezes) == 2 and replaced() is None
        assert state.collections["ones"].target.importance.n_codes == \
            state.collections["zeros"].target.importance.n_codes
    finally:
        gc.unfreeze()


def test_each_collection_keeps_its_index(world: dict[str, Path],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """One assessor serving several stores builds each store's Hamming index once."""
    from dhr_plugins.assessors import _common

    built: list[int] = []

    class Counted(_common.HammingIndex):
        def __init__(self, codes: np.ndarray, n_bits: int) -> None:
            built.append(1)
            super().__init__(codes, n_bits)

    monkeypatch.setattr(_common, "HammingIndex", Counted)
    lists = [Store(world["served"] / f"{n}.h5").read_importance() for n in ("zeros", "ones")]
    codes = lists[0].codes[:3]
    shared = make_assessor()
    answers = [shared.assess(il, codes).estimate for il in lists * 3]
    assert answers[:2] == answers[2:4] == answers[4:]
    assert len(built) == 2

def test_start_up_errors_are_one_line(world: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DhrError, match="does not exist"):
        create_app([tmp_path / "nope"])
    with pytest.raises(DhrError, match="no stores to serve"):
        create_app([tmp_path])
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(world["tmp"] / "ones.h5", other / "zeros.h5")
    with pytest.raises(DhrError, match="two stores are named 'zeros'"):
        create_app([world["served"], other / "zeros.h5"])


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = serve_cmd.importlib.util.find_spec
    monkeypatch.setattr(serve_cmd.importlib.util, "find_spec",
                        lambda name: None if name == "fastapi" else real(name))
    res = CliRunner().invoke(cli, ["serve", "x.h5"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        "Error: dhr serve needs the 'serve' extra (missing: fastapi); install it with: "
        "pip install \"dhr-sdk[serve]\""]


def test_dhr_starts_without_the_web_stack() -> None:
    code = ("import sys, dhr_sdk.cli.main; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_dhr_serve_command(world: dict[str, Path]) -> None:
    port = free_port()
    dhr = Path(sys.executable).parent / "dhr"
    proc = subprocess.Popen([str(dhr), "serve", str(world["served"] / "zeros.h5"), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "dhr serve did not answer in 60 s"
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        names = [c["name"] for c in httpx.get(f"http://127.0.0.1:{port}/v1/collections")
                 .json()["collections"]]
        assert names == ["zeros"]
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "<form id=\"requirement\"" in page.text
        assert "http" not in page.text.split("<script>")[1]  # no CDN, everything inline
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert "loaded 1 collection(s), 1 model(s)" in out


def test_watch_picks_up_a_rebuilt_store(world: dict[str, Path], tmp_path: Path) -> None:
    served = tmp_path / "stores"
    served.mkdir()
    for name in ("zeros", "ones"):
        shutil.copy(world["tmp"] / f"{name}.h5", served / f"{name}.h5")
    with TestClient(create_app([served], watch=0.1)) as client:  # runs the lifespan
        before = _zeros_count(client, world)
        rebuilt = tmp_path / "ones.h5"
        shutil.copy(world["tmp"] / "zeros.h5", rebuilt)
        os.replace(rebuilt, served / "ones.h5")
        deadline = time.monotonic() + 20
        while _zeros_count(client, world)["ones"] != before["zeros"]:
            assert time.monotonic() < deadline, "the watch did not reload 'ones' in 20 s"
            time.sleep(0.1)
        assert client.post("/v1/reload").json()["unchanged"] == ["ones", "zeros"]


def _answers_by_process(url: str, request: dict[str, Any], n: int) -> dict[str, set[float]]:
    """``n`` concurrent requests on separate connections: the zeros count each server
    process answered."""
    def one(_: int) -> tuple[str, float]:
        r = httpx.post(url + "/v1/assess", **request, timeout=60)
        assert r.status_code == 200, r.text
        counts = {c["name"]: c["estimate"]["count"] for c in r.json()["collections"]}
        return r.headers[PROCESS_HEADER], counts["ones"]

    out: dict[str, set[float]] = {}
    with ThreadPoolExecutor(8) as pool:
        for pid, count in pool.map(one, range(n)):
            out.setdefault(pid, set()).add(count)
    return out


@pytest.mark.slow
def test_dhr_serve_workers_share_the_port_and_follow_rebuilds(world: dict[str, Path],
                                                              tmp_path: Path) -> None:
    """Two real worker processes answer alike, and both pick up a rebuilt store."""
    served = tmp_path / "stores"
    served.mkdir()
    for name in ("zeros", "ones"):
        shutil.copy(world["tmp"] / f"{name}.h5", served / f"{name}.h5")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dhr = Path(sys.executable).parent / "dhr"
    proc = subprocess.Popen([str(dhr), "serve", str(served), "--port", str(port), "--workers",
                             "2", "--watch", "0.3"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    files, _ = upload(world["req"])
    request = {"files": files}
    try:
        deadline = time.monotonic() + 120
        seen: dict[str, set[float]] = {}
        while len(seen) < 2:  # until both processes have answered
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, f"two workers did not answer: {seen}"
            try:
                for pid, counts in _answers_by_process(url, request, 16).items():
                    seen.setdefault(pid, set()).update(counts)
            except httpx.TransportError:
                time.sleep(0.2)
        assert len({frozenset(c) for c in seen.values()}) == 1  # the same answers
        (old,) = next(iter(seen.values()))
        rebuilt = tmp_path / "ones.h5"
        shutil.copy(world["tmp"] / "zeros.h5", rebuilt)
        os.replace(rebuilt, served / "ones.h5")
        zeros = _zeros_count(httpx.Client(base_url=url, timeout=60), world)["zeros"]
        assert zeros != old
        followed: dict[str, set[float]] = {}
        while len(followed) < 2 or any(c != {zeros} for c in followed.values()):
            assert time.monotonic() < deadline, f"workers did not all reload: {followed}"
            time.sleep(0.5)
            followed = _answers_by_process(url, request, 16)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "starting 2 workers" in out
