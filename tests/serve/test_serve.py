"""dhr serve: a real uvicorn server on loopback answering over real HTTP, against small
stores built with the CLI; the same scores as the library and ``dhr assess``."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.assessment.assess import assess, make_assessor
from dhr_sdk.cli import serve_cmd
from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.serve.app import Limits, create_app
from dhr_sdk.serve.inputs import codes_requirement
from dhr_sdk.store import Store
from tests.clitools import digest, run, write_images

#: Added by the server to each CLI result entry (the rest must be equal).
SERVER_KEYS = {"name", "explanation"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Digits: 'zeros' is 80% zeros, 'ones' 80% ones, one model; requirement = held-out
    zeros (and ones). 'zeros' holds a symlink to an image outside its folder."""
    tmp = tmp_path_factory.mktemp("serve")
    d = load_demo_arrays("mnist")
    y = d.class_index
    zeros, ones, twos = (np.flatnonzero(y == c) for c in (0, 1, 2))
    write_images(tmp / "zeros", d.images[np.concatenate([zeros[:120], ones[:30]])])
    write_images(tmp / "ones", d.images[np.concatenate([ones[30:150], twos[:30]])])
    write_images(tmp / "twos", d.images[np.concatenate([twos[30:150], zeros[120:150]])])
    write_images(tmp / "outside", d.images[zeros[300:301]])
    (tmp / "zeros" / "zz-link.png").symlink_to(tmp / "outside" / "0000.png")
    write_images(tmp / "req", d.images[zeros[400:410]])
    write_images(tmp / "req1", d.images[ones[400:405]])
    run("fit", tmp / "zeros", tmp / "ones", "-o", tmp / "model.h5", "--hasher", "itq",
        "-p", "n_bits=16", "-q")
    for name in ("zeros", "ones", "twos"):
        run("encode", tmp / name, "--model", tmp / "model.h5", "-o", tmp / f"{name}.h5", "-q")
        run("graph", tmp / f"{name}.h5", "-q")
        run("rank", tmp / f"{name}.h5", "-p", "solver=closed", "-q")
    served = tmp / "served"
    served.mkdir()
    for name in ("zeros", "ones"):
        shutil.copy(tmp / f"{name}.h5", served / f"{name}.h5")
    return {"tmp": tmp, "served": served, "req": tmp / "req", "req1": tmp / "req1"}


class Server:
    """A real uvicorn server for ``app`` on 127.0.0.1, a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        self.client = httpx.Client(base_url=self.url, timeout=120)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        assert not self.thread.is_alive()


@pytest.fixture(scope="module")
def server(world: dict[str, Path]) -> Iterator[Server]:
    s = Server(create_app([world["served"]], limits=Limits(max_body_bytes=1 << 20,
                                                           max_images=40)))
    yield s
    s.stop()


def upload(*folders: Path) -> tuple[list[tuple[str, tuple[str, bytes, str]]], list[str]]:
    """Multipart files of the images of ``folders``, grouped by folder name."""
    files, groups = [], []
    for folder in folders:
        for p in sorted(folder.glob("*.png")):
            files.append(("images", (p.name, p.read_bytes(), "image/png")))
            groups.append(folder.name)
    return files, groups


def store_codes(path: Path, rows: list[int]) -> list[str]:
    il = Store(path).read_importance()
    return [il.codes[r].tobytes().hex() for r in rows]


def short(path: str) -> str:
    """``req/0000.png`` of a requirement path as the CLI names it."""
    return "/".join(Path(path).parts[-2:])


def cli_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A server collection entry as ``dhr assess --json`` has it."""
    out = {k: v for k, v in entry.items() if k not in SERVER_KEYS}
    out["top_images"] = [{k: v for k, v in t.items() if k not in ("index", "thumbnail")}
                         for t in entry["top_images"]]
    return out


def test_healthz_and_collections(server: Server, world: dict[str, Path]) -> None:
    assert server.client.get("/healthz").json() == {"status": "ok"}
    data = server.client.get("/v1/collections").json()
    cols = {c["name"]: c for c in data["collections"]}
    assert set(cols) == {"ones", "zeros"}
    assert cols["zeros"]["n_images"] == 151 and cols["zeros"]["n_bits"] == 16
    assert Path(cols["zeros"]["path"]) == (world["served"] / "zeros.h5").resolve()
    assert cols["zeros"]["model_id"] == cols["ones"]["model_id"] and cols["ones"]["has_model"]
    assert data["ranked_by"] == "wanted-count"


def test_assess_codes_equals_the_library(server: Server, world: dict[str, Path]) -> None:
    codes = store_codes(world["served"] / "zeros.h5", [0, 1, 2, 5])
    weights = [3.0, 1.0, 1.0, 0.5]
    r = server.client.post("/v1/assess", json={"codes": codes, "weights": weights, "top": 4})
    assert r.status_code == 200, r.text
    got = r.json()
    stores = [world["served"] / "ones.h5", world["served"] / "zeros.h5"]
    want = assess(codes_requirement(codes, weights), stores, make_assessor(),
                  top_images=4).to_json()
    assert [c["name"] for c in got["collections"]] == [w["collection"] for w in want["results"]]
    for entry, expected in zip(got["collections"], want["results"], strict=True):
        expected["store"] = entry["store"]  # the server names stores by resolved path
        assert cli_entry(entry) == expected
        assert entry["explanation"] and all(isinstance(s, str) for s in entry["explanation"])
    assert got["requirement"] == want["requirement"]
    assert got["elapsed_ms"] > 0


def test_assess_images_equals_the_cli(server: Server, world: dict[str, Path]) -> None:
    files, groups = upload(world["req"], world["req1"])
    r = server.client.post("/v1/assess", files=files,
                           data={"group": groups, "weight": ["3", "1"]})
    assert r.status_code == 200, r.text
    got = r.json()
    stores = [world["served"] / "zeros.h5", world["served"] / "ones.h5"]
    want = json.loads(run("assess", "-r", world["req"], "-r", world["req1"], "-w", "3",
                          "-w", "1", *stores, "--json"))
    assert got["collections"][0]["name"] == "zeros"
    assert [g["weight"] for g in got["requirement_groups"]] == [0.75, 0.25]
    assert [g["source"] for g in got["requirement_groups"]] == ["req", "req1"]
    # both groups hold 0000.png...: the server names them group/file, the CLI by path
    assert [x["path"] for x in got["requirement"]] == [short(x["path"])
                                                       for x in want["requirement"]]
    for entry, expected in zip(got["collections"], want["results"], strict=True):
        e = cli_entry(entry)
        for key in ("collection", "n_images", "estimate", "relevance", "score", "k", "n",
                    "matches", "model_id"):
            assert e[key] == expected[key], key
        assert e["per_image"] == [{**p, "path": short(p["path"])} for p in expected["per_image"]]
        assert e["top_images"] == [{**t, "requirement_image": short(t["requirement_image"])}
                                   for t in expected["top_images"]]
        assert len(e["warnings"]) == len(expected["warnings"])


def test_matched_image_thumbnails(server: Server, world: dict[str, Path]) -> None:
    files, _ = upload(world["req"])
    got = server.client.post("/v1/assess", files=files).json()
    top = got["collections"][0]["top_images"]
    assert top and all(t["thumbnail"].startswith("/v1/collections/zeros/images/") for t in top)
    r = server.client.get(top[0]["thumbnail"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    original = Image.open(world["tmp"] / "zeros" / top[0]["image_id"])
    assert img.size == original.size == (28, 28)
    assert np.array_equal(np.asarray(img.convert("L")), np.asarray(original.convert("L")))
    big = server.client.get(top[0]["thumbnail"], params={"size": 16})
    assert Image.open(io.BytesIO(big.content)).size == (16, 16)


def test_thumbnails_refuse_paths_outside_the_root(server: Server,
                                                  world: dict[str, Path]) -> None:
    ids = Store(world["served"] / "zeros.h5").read_collection().image_ids
    link = ids.index("zz-link.png")
    for url in (f"/v1/collections/zeros/images/{link}", "/v1/collections/zeros/images/151",
                "/v1/collections/zeros/images/..%2F..%2Fetc%2Fpasswd",
                "/v1/collections/zeros/images/../../etc/passwd",
                "/v1/collections/zeros/images/%2Fetc%2Fpasswd", "/v1/collections/zeros/images/-1",
                "/v1/collections/nope/images/0"):
        r = server.client.get(url)
        assert r.status_code == 404, (url, r.text)
        assert "\n" not in r.json()["detail"]
    r = server.client.get(f"/v1/collections/zeros/images/{link}")
    assert "not under the collection's root" in r.json()["detail"]


def _bad_requests(world: dict[str, Path]) -> list[tuple[str, dict[str, Any], int, str]]:
    png = (world["req"] / "0000.png").read_bytes()
    code = store_codes(world["served"] / "zeros.h5", [0])[0]
    one = [("images", ("a.png", png, "image/png"))]
    return [
        ("bad hex", {"json": {"codes": ["zz" * 2]}}, 400, "not a hexadecimal"),
        ("wrong length", {"json": {"codes": [code + "00"]}}, 400, "24 bits"),
        ("mixed lengths", {"json": {"codes": [code, code + "00"]}}, 400, "same length"),
        ("no codes", {"json": {"codes": []}}, 400, "at least one requirement code"),
        ("weights count", {"json": {"codes": [code], "weights": [1, 2]}}, 400, "2 weight"),
        ("negative weight", {"json": {"codes": [code], "weights": [-1]}}, 400, "non-negative"),
        ("unknown collection", {"json": {"codes": [code], "collections": ["dogs"]}}, 400,
         "unknown collection 'dogs'"),
        ("not json", {"content": b"{nope", "headers": {"content-type": "application/json"}},
         400, "not JSON"),
        ("codes not a list", {"json": {"codes": "ab"}}, 400, "codes"),
        ("extra field", {"json": {"codes": [code], "radius": 3}}, 400, "radius"),
        ("top too large", {"json": {"codes": [code], "top": 1000}}, 400, "top"),
        ("no images", {"files": [("other", ("a.png", png, "image/png"))]}, 400,
         "no requirement images"),
        ("images as text", {"data": {"images": "x"}, "files": [("f", ("a", b"1"))]}, 400,
         "must hold files"),
        ("unreadable image", {"files": [("images", ("cat.png", b"not a png", "image/png"))]},
         400, "uploaded image cat.png is unreadable"),
        ("weight not a number", {"files": one, "data": {"weight": "heavy"}}, 400,
         "not a number"),
        ("weights per group", {"files": one, "data": {"weight": ["1", "2"]}}, 400,
         "2 weights for 1 groups"),
        ("groups count", {"files": one * 2, "data": {"group": ["a", "b", "c"]}}, 400,
         "3 'group' values"),
        ("upload unknown collection", {"files": one, "data": {"collection": "dogs"}}, 400,
         "unknown collection"),
        ("too many images", {"files": one * 41}, 400, "Too many files"),
        ("too large", {"files": [("images", ("big.png", b"0" * (1 << 20), "image/png"))]}, 413,
         "over the limit"),
        ("content type", {"content": b"codes", "headers": {"content-type": "text/plain"}}, 415,
         "multipart/form-data"),
    ]


def test_bad_input_is_a_one_line_4xx(server: Server, world: dict[str, Path]) -> None:
    for what, kwargs, status, text in _bad_requests(world):
        r = server.client.post("/v1/assess", **kwargs)
        assert r.status_code == status, (what, r.status_code, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail, (what, detail)
        assert text in detail, (what, detail)
    for method, url, status in (("GET", "/v1/assess", 405), ("GET", "/nowhere", 404),
                                ("GET", "/v1/collections/zeros/images/0?size=9999", 400),
                                ("GET", "/v1/collections/zeros/images/0?size=big", 422)):
        r = server.client.request(method, url)
        assert r.status_code == status, (url, r.text)
        assert isinstance(r.json()["detail"], str) and "\n" not in r.json()["detail"]
    assert server.client.get("/healthz").status_code == 200


def test_chunked_upload_is_refused(server: Server, world: dict[str, Path]) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"codes": ["00ff"]}'

    r = server.client.post("/v1/assess", content=body(),
                           headers={"content-type": "application/json"})
    assert r.status_code == 411 and "Content-Length" in r.json()["detail"]


def test_stores_are_only_read(server: Server, world: dict[str, Path]) -> None:
    stores = sorted(world["served"].glob("*.h5"))
    before = {p: digest(p) for p in stores}
    files, groups = upload(world["req"], world["req1"])
    assert server.client.post("/v1/assess", files=files, data={"group": groups}).is_success
    code = store_codes(stores[0], [0])
    assert server.client.post("/v1/assess", json={"codes": code}).is_success
    assert server.client.get("/v1/collections/zeros/images/0").is_success
    assert server.client.post("/v1/reload").json()["unchanged"] == ["ones", "zeros"]
    assert {p: digest(p) for p in stores} == before
    assert sorted(world["served"].glob("*")) == stores


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
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
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
