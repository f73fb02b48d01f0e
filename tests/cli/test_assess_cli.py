"""dhr fit/encode/graph/rank into stores, then dhr assess: ranking, JSON, report, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.assessment.requirement import load_requirement
from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.core.types import ImportanceList
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import HashModel
from dhr_sdk.store import Store
from dhr_sdk.testing import synthetic_fit_data
from tests.clitools import digest, fail, run, write_images


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Digits: 'zeros' is 80% zeros, 'ones' 80% ones; requirement = held-out zeros."""
    tmp = tmp_path_factory.mktemp("assess")
    d = load_demo_arrays("mnist")
    y = d.class_index
    zeros, ones, twos = (np.flatnonzero(y == c) for c in (0, 1, 2))
    write_images(tmp / "zeros", d.images[np.concatenate([zeros[:120], ones[:30]])])
    write_images(tmp / "ones", d.images[np.concatenate([ones[30:150], twos[:30]])])
    write_images(tmp / "req", d.images[zeros[400:410]])
    write_images(tmp / "req1", d.images[ones[400:405]])
    run("fit", tmp / "zeros", tmp / "ones", "-o", tmp / "model.h5", "--hasher", "itq",
        "-p", "n_bits=16", "-q")
    for name in ("zeros", "ones"):
        run("encode", tmp / name, "--model", tmp / "model.h5", "-o", tmp / f"{name}.h5", "-q")
        run("graph", tmp / f"{name}.h5", "-q")
        run("rank", tmp / f"{name}.h5", "-q")
    # a third store with its own, different model (built in one go)
    run("build", tmp / "ones", "-o", tmp / "ones-own.h5", "--hasher", "pcah",
        "-p", "n_bits=16", "-q")
    return {"tmp": tmp, "zeros": tmp / "zeros.h5", "ones": tmp / "ones.h5",
            "own": tmp / "ones-own.h5", "req": tmp / "req", "req1": tmp / "req1"}


def test_ranks_the_matching_collection_first(world: dict[str, Path]) -> None:
    out = run("assess", "-r", world["req"], world["ones"], world["zeros"], "-q")
    lines = out.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("#"))
    assert lines[header + 2].split()[1] == "zeros"
    assert "different models" not in out


def test_json_contract_and_read_only(world: dict[str, Path], tmp_path: Path) -> None:
    before = {k: digest(world[k]) for k in ("zeros", "ones", "own")}
    report = tmp_path / "r.html"
    out = run("assess", "-r", world["req"], "-r", world["req1"], "-w", "3", "-w", "1",
              world["zeros"], world["ones"], world["own"], "--json", "--report", report)
    data = json.loads(out)
    assert {"requirement", "assessor", "models", "multiple_models", "results", "report"} <= set(
        data)
    weights = [r["weight"] for r in data["requirement"]]
    assert sum(weights) == pytest.approx(1.0)
    assert weights[0] == pytest.approx(0.75 / 10) and weights[-1] == pytest.approx(0.25 / 5)
    assert data["multiple_models"] is True and len(data["models"]) == 2
    assert data["ranked_by"] == "wanted-count"
    assert data["paper_assessor"]["name"] == "importance-list"
    assert [g["weight"] for g in data["requirement_groups"]] == [0.75, 0.25]
    counts = [r["estimate"]["count"] for r in data["results"]]
    assert counts == sorted(counts, reverse=True)
    for r in data["results"]:
        assert 0 <= r["relevance"] <= 1
        assert r["relevance"] == pytest.approx(1 - r["k"] / r["n"]) or r["relevance"] == 0
        assert len(r["per_image"]) == 15
        assert sum(p["contribution"] for p in r["per_image"]) == pytest.approx(r["score"])
        # distinct images: never more than the collection holds
        assert r["matches"] <= r["n_images"] == r["estimate"]["n_images"]
        assert r["matches"] <= sum(p["matched_images"] for p in r["per_image"])
        e = r["estimate"]
        assert e["low"] <= e["count"] <= e["high"] and e["share"] == e["count"] / r["n_images"]
        for t in r["top_images"]:
            assert Path(t["path"]).is_file() and t["distance"] <= 2
            assert t["requirement_image"].endswith(".png")
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 15 and "ones-own" in html
    assert "src=\"http" not in html and "different models" in html
    assert html.count("<details>") == 3 and "contribution" in html
    assert {k: digest(world[k]) for k in before} == before


def test_explain_lists_contributions(world: dict[str, Path]) -> None:
    out = run("assess", "-r", world["req"], world["zeros"], "--explain", "-q")
    assert "contribution" in out and out.count("0000.png") == 1 and "0009.png" in out


def test_different_models_are_reported(world: dict[str, Path]) -> None:
    out = run("assess", "-r", world["req"], world["zeros"], world["own"], "-q")
    header = next(ln for ln in out.splitlines() if ln.startswith("#"))
    assert "2 different models" in out and "model" in header.split()


def test_bad_inputs_are_one_line_errors(world: dict[str, Path], tmp_path: Path) -> None:
    assert "does not exist" in fail("assess", "-r", tmp_path / "nope", world["zeros"])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    (empty / "broken.png").write_bytes(b"not a png")
    assert "no readable image" in fail("assess", "-r", empty, world["zeros"])
    assert "unreadable" in fail("assess", "-r", empty / "broken.png", world["zeros"])
    assert "weight" in fail("assess", "-r", world["req"], "-w", "1", "-w", "2", world["zeros"])
    unranked = tmp_path / "unranked.h5"
    run("encode", world["tmp"] / "zeros", "--model", world["tmp"] / "model.h5", "-o", unranked,
        "-q")
    assert "no rank" in fail("assess", "-r", world["req"], world["zeros"], unranked)
    assert "not a dhr store" in fail("assess", "-r", world["req"], world["req"] / "0000.png")
    # importance list of 16-bit codes under a 32-bit model
    bad = tmp_path / "bad.h5"
    bad.write_bytes(world["zeros"].read_bytes())
    store = Store(bad)
    il = store.read_importance()
    h = get_registry().create("hasher", "lsh", {"n_bits": 32})
    h.fit(synthetic_fit_data(d=784))
    with store.edit() as w:
        w.write_model(HashModel(h, "pixels", {}).to_record())
        w.write_importance(ImportanceList(16, il.codes, il.scores, il.order, il.counts,
                                          il.members_indptr, il.members), "test")
    before = digest(bad)
    msg = fail("assess", "-r", world["req"], bad)
    assert "16-bit" in msg and "32-bit" in msg
    assert digest(bad) == before


def test_load_requirement_weights(world: dict[str, Path]) -> None:
    req = load_requirement([world["req"], world["req1"] / "0000.png"], [1.0, 1.0])
    assert len(req.paths) == 11
    assert req.weights[:10] == pytest.approx([0.05] * 10) and req.weights[10] == 0.5
    with pytest.raises(DhrError, match="not all zero"):
        load_requirement([world["req"]], [0.0])


def test_ranking_by_the_estimate_and_by_the_paper(world: dict[str, Path]) -> None:
    """The default ranks by the wanted count; --assessor importance-list by R(AD); both
    report the same R(AD) per collection."""
    default = json.loads(run("assess", "-r", world["req"], world["ones"], world["zeros"],
                             "--json"))
    paper = json.loads(run("assess", "-r", world["req"], world["ones"], world["zeros"],
                           "--assessor", "importance-list", "--json"))
    assert default["ranked_by"] == "wanted-count" and paper["ranked_by"] == "importance-list"
    assert default["results"][0]["collection"] == "zeros"  # 120 zeros against none
    zeros = default["results"][0]["estimate"]
    ones = default["results"][1]["estimate"]
    assert zeros["count"] > ones["count"]
    assert all(r["estimate"] is None for r in paper["results"])
    r_default = {r["collection"]: r["relevance"] for r in default["results"]}
    r_paper = {r["collection"]: r["relevance"] for r in paper["results"]}
    assert r_default == r_paper
    rel = [r["relevance"] for r in paper["results"]]
    assert rel == sorted(rel, reverse=True)
    out = run("assess", "-r", world["req"], world["ones"], world["zeros"], "-q")
    assert "wanted" in out and "R(AD)" in out and "10 images: " in out


def test_params_go_to_the_assessors_that_declare_them(world: dict[str, Path]) -> None:
    data = json.loads(run("assess", "-r", world["req"], world["zeros"], "-p", "radius=0",
                          "-p", "importance-list.total=images", "-p", "level=0.5", "--json"))
    assert data["assessor"]["params"]["radius"] == 0
    assert data["assessor"]["params"]["level"] == 0.5
    assert data["paper_assessor"]["params"] == {**data["paper_assessor"]["params"],
                                                "radius": 0, "total": "images"}
    assert "not a parameter" in fail("assess", "-r", world["req"], world["zeros"], "-p",
                                     "radiuss=1")
    assert "not in use" in fail("assess", "-r", world["req"], world["zeros"], "-p",
                                "lsh.n_bits=8")


def test_warnings_name_files_and_skipped_ones(world: dict[str, Path], tmp_path: Path) -> None:
    req = tmp_path / "req"
    req.mkdir()
    for p in sorted(world["req"].iterdir())[:3]:
        (req / p.name).write_bytes(p.read_bytes())
    (req / "broken.png").write_bytes(b"not a png")
    # an image the codes put far from every collection image: inverted and noisy
    noise = np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)
    Image.fromarray(noise).save(req / "noise.png")
    res = CliRunner().invoke(cli, ["assess", "-r", str(req), str(world["zeros"]), "-p",
                                   "radius=0", "-q"])
    assert res.exit_code == 0, res.output
    assert "skipped unreadable requirement file" in res.output and "broken.png" in res.output
    data = json.loads(run("assess", "-r", req, world["zeros"], "-p", "radius=0", "--json"))
    assert [Path(s["path"]).name for s in data["skipped"]] == ["broken.png"]
    lines = [w for w in data["results"][0]["warnings"] if "matched nothing" in w]
    assert len(lines) == 1 and "noise.png" in lines[0]  # named by file, never by index
    assert "requirement image 3" not in lines[0]
