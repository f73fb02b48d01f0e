"""dhr serve's HTTP API over real HTTP (a real uvicorn server on loopback) against small
stores built with the CLI: the same scores as the library and ``dhr assess``, thumbnails,
and every bad input a one-line 4xx."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dhr_sdk.assessment.assess import assess, make_assessor
from dhr_sdk.serve.inputs import codes_requirement
from dhr_sdk.store import Store
from tests.clitools import digest, run
from tests.serve.servetools import Server, cli_entry, short, store_codes, upload


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


