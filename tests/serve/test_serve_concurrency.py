"""dhr serve under concurrent requests: the same answers as one at a time, reloads that swap
stores while requests run, and Hamming indexes built once, at load, shared by both assessors."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dhr_sdk.serve.app import create_app
from dhr_sdk.serve.state import ServerState
from tests.serve.servetools import Server, store_codes, upload


def _answer(server: Server, request: dict[str, Any]) -> dict[str, Any]:
    r = server.client.post("/v1/assess", **request)
    assert r.status_code == 200, r.text
    data = r.json()
    del data["elapsed_ms"]
    return data


def test_concurrent_requests_answer_as_sequential_ones(server: Server,
                                                      world: dict[str, Path]) -> None:
    zeros, ones = world["served"] / "zeros.h5", world["served"] / "ones.h5"
    files, groups = upload(world["req"], world["req1"])
    requests = [{"json": {"codes": store_codes(zeros, [0, 1, 2])}},
                {"json": {"codes": store_codes(ones, [3, 4]), "weights": [2, 1]}},
                {"json": {"codes": store_codes(zeros, [5]), "collections": ["ones"]}},
                {"files": files, "data": {"group": groups, "weight": ["3", "1"]}}]
    sequential = [_answer(server, r) for r in requests]
    order = [i % len(requests) for i in range(32)]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda i: _answer(server, requests[i]), order))
    for i, got in zip(order, concurrent, strict=True):
        assert got == sequential[i]


def test_reload_while_requests_run(world: dict[str, Path], tmp_path: Path) -> None:
    """'ones' is swapped back and forth between two versions while 4 threads assess: every
    answer is wholly one version or the other, never an error or a mix."""
    served = tmp_path / "stores"
    served.mkdir()
    shutil.copy(world["tmp"] / "zeros.h5", served / "zeros.h5")
    versions = [world["tmp"] / "ones.h5", world["tmp"] / "twos.h5"]
    shutil.copy(versions[0], served / "ones.h5")
    request = {"json": {"codes": store_codes(world["tmp"] / "zeros.h5", [0, 1, 2, 3])}}
    s = Server(create_app([served]))
    try:
        known = [_answer(s, request)]
        stop = threading.Event()
        seen: list[dict[str, Any]] = []
        errors: list[BaseException] = []

        def client() -> None:
            while not stop.is_set():
                try:
                    seen.append(_answer(s, request))
                except BaseException as exc:  # reported by the test thread below
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for k in range(1, 7):
                staged = tmp_path / "staged.h5"
                shutil.copy(versions[k % 2], staged)
                staged.replace(served / "ones.h5")  # atomic, as dhr writes a store
                assert s.client.post("/v1/reload").json()["reloaded"] == ["ones"]
                if k == 1:
                    known.append(_answer(s, request))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        assert not errors, errors[0]
        assert known[0] != known[1] and len(seen) > 6
        assert all(a in known for a in seen)
    finally:
        s.stop()


def test_indexes_are_built_at_load_once_per_list(world: dict[str, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Both assessors share one index per importance list and one joint index per model,
    built before the first request; requests and an unchanged reload build none."""
    from dhr_plugins.assessors import _common

    built: list[int] = []

    class Counted(_common.HammingIndex):
        def __init__(self, codes: np.ndarray, n_bits: int) -> None:
            built.append(codes.shape[0])
            super().__init__(codes, n_bits)

    monkeypatch.setattr(_common, "HammingIndex", Counted)
    state = ServerState([world["served"]])
    sizes = [c.target.importance.n_codes for c in state.collections.values()]
    # one index per list and one joint index over both (one model): at load, not per request
    assert state.ranking is not state.paper and sorted(built) == sorted([*sizes, sum(sizes)])
    from dhr_sdk.serve.inputs import codes_requirement

    req = codes_requirement(store_codes(world["served"] / "zeros.h5", [0, 1]), None)
    first = state.assess_codes(req)
    state.reload()
    again = state.assess_codes(req)
    assert len(built) == 3
    assert [r.assessment.estimate for r in first.results] == \
        [r.assessment.estimate for r in again.results]
    assert [r.paper.relevance for r in first.results] == \
        [r.paper.relevance for r in again.results]
