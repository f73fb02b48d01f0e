"""dhr select: a budget spent across stores, against a brute-force reference, and its CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.assessment.requirement import Requirement
from dhr_sdk.assessment.selection import (
    RequirementGroup,
    _group_distances,
    requirement_groups,
    select,
    split_budget,
)
from dhr_sdk.cli.main import cli
from dhr_sdk.codes.packing import hamming_matrix, pack_bits, unpack_bits
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.offline.relevance import build_graph, import_codes, rank
from dhr_sdk.store import Store
from dhr_sdk.testing import clustered_codes
from tests.clitools import digest, fail, run


def make_store(folder: Path, name: str, codes: np.ndarray, radius: int = 2) -> Path:
    """A store of imported codes, graph and rank (no model), as 'dhr import-codes' does."""
    np.save(folder / f"{name}.npy", unpack_bits(codes).astype(np.int8) * 2 - 1)  # ±1 input
    store = folder / f"{name}.h5"
    import_codes(store, folder / f"{name}.npy")
    build_graph(store, get_registry().create("graph_builder", "hamming", {"radius": radius}))
    rank(store, get_registry().create("ranker", "cpr", {"solver": "closed"}))
    return store


def codes_requirement(codes: np.ndarray, sources: list[str],
                      weights: list[float] | None = None) -> Requirement:
    w = np.asarray(weights or [1.0] * len(codes), dtype=np.float64)
    return Requirement([Path(f"q{i}") for i in range(len(codes))], w / w.sum(), sources, codes)


def brute_force(req: Requirement, stores: list[Path], budget: int,
                max_distance: int | None = None) -> list[tuple[int, int, int, int]]:
    """Image by image, straight from the store's per-image codes: per group, every image
    sorted by (distance to the group's nearest code, -score, store, image), the first
    budget × weight ones not yet taken. Returns (store, image, group, distance) sorted."""
    per_store = []
    for path in stores:
        s = Store(path)
        codes = s.read_codes().codes
        il = s.read_importance()
        score_of = {il.codes[r].tobytes(): float(il.scores[r]) for r in range(il.n_codes)}
        per_store.append((codes, [score_of[c.tobytes()] for c in codes]))
    groups = req.groups()
    shares = split_budget(budget, [w for _, w, _ in groups])
    taken: set[tuple[int, int]] = set()
    out = []
    for g, ((_, _, idx), share) in enumerate(zip(groups, shares, strict=True)):
        cands = []
        for s, (codes, scores) in enumerate(per_store):
            d = hamming_matrix(codes, req.codes[idx]).min(axis=1)
            cands += [(int(d[i]), -scores[i], s, i) for i in range(len(codes))]
        cands.sort()
        got = 0
        for d, _, s, i in cands:
            if got == share or (max_distance is not None and d > max_distance):
                break
            if (s, i) not in taken:
                taken.add((s, i))
                out.append((s, i, g, d))
                got += 1
    return sorted(out)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three 16-bit stores of clustered codes (many ties in distance, varied scores)."""
    tmp = tmp_path_factory.mktemp("select")
    a = make_store(tmp, "a", clustered_codes(300, 16, 3, 0.08, seed=1))
    b = make_store(tmp, "b", clustered_codes(200, 16, 3, 0.08, seed=2))
    c = make_store(tmp, "c", clustered_codes(250, 16, 5, 0.12, seed=3))
    req = clustered_codes(6, 16, 3, 0.05, seed=1)  # near the centres of 'a'
    np.save(tmp / "req.npy", req)
    np.save(tmp / "req8.npy", clustered_codes(2, 8, 1, 0.0))
    return {"tmp": tmp, "a": a, "b": b, "c": c, "req": tmp / "req.npy",
            "req8": tmp / "req8.npy"}


def stores_of(world: dict[str, Path]) -> list[Path]:
    return [world["a"], world["b"], world["c"]]


def test_split_budget_sums_to_the_budget() -> None:
    assert split_budget(10, [0.7, 0.3]) == [7, 3]
    assert split_budget(10, [1, 1, 1]) == [4, 3, 3]
    assert split_budget(200, [0.7, 0.3]) == [140, 60]
    assert split_budget(1, [0.5, 0.5]) == [1, 0]
    for b in (1, 7, 99, 1000):
        assert sum(split_budget(b, [0.2, 0.15, 0.65])) == b


def test_group_distances_in_chunks_equal_one_dense_matrix() -> None:
    codes = clustered_codes(500, 32, 4, 0.1, seed=4)
    req = clustered_codes(7, 32, 4, 0.1, seed=5)
    groups = [RequirementGroup("x", 0.5, [0, 1, 2]), RequirementGroup("y", 0.5, [3, 4, 5, 6])]
    d = hamming_matrix(codes, req)
    want = np.stack([d[:, :3].min(axis=1), d[:, 3:].min(axis=1)], axis=1)
    np.testing.assert_array_equal(_group_distances(codes, req, groups, chunk_pairs=50), want)


@pytest.mark.parametrize(("budget", "sources", "weights", "max_distance"), [
    (40, ["x"] * 6, None, None),
    (500, ["x"] * 6, None, None),
    (750, ["x"] * 6, None, None),                       # every image
    (120, ["x", "x", "y", "y", "z", "z"], [7, 7, 3, 3, 1, 1], None),
    (333, ["x", "y", "x", "y", "x", "y"], [1, 2, 1, 2, 1, 2], None),
    (300, ["x"] * 3 + ["y"] * 3, None, 3),             # capped: a shortfall
])
def test_matches_brute_force(world: dict[str, Path], budget: int, sources: list[str],
                             weights: list[float] | None, max_distance: int | None) -> None:
    req = codes_requirement(np.load(world["req"]), sources, weights)
    sel = select(req, stores_of(world), budget, max_distance=max_distance)
    got = sorted(zip(sel.store.tolist(), sel.image.tolist(), sel.group.tolist(),
                     sel.distance.tolist(), strict=True))
    want = brute_force(req, stores_of(world), budget, max_distance)
    assert got == want
    # rank order: distance, then higher score
    key = list(zip(sel.distance.tolist(), (-sel.score).tolist(), strict=True))
    assert key == sorted(key)
    assert sel.selected + sel.shortfall == budget
    if max_distance is None:
        assert sel.selected == budget
    else:
        assert sel.shortfall > 0 and int(sel.distance.max()) <= max_distance
        assert any("within distance 3" in w for w in sel.warnings())


def test_weights_split_the_budget_and_no_image_is_taken_twice(world: dict[str, Path]) -> None:
    req = np.load(world["req"])
    same = np.concatenate([req[:3], req[:3]])  # both groups want the same images
    sel = select(codes_requirement(same, ["dress"] * 3 + ["bag"] * 3, [7, 7, 7, 3, 3, 3]),
                 stores_of(world), 200)
    assert [g["budget"] for g in sel.group_summary()] == [140, 60]
    assert [g["selected"] for g in sel.group_summary()] == [140, 60]
    pairs = set(zip(sel.store.tolist(), sel.image.tolist(), strict=True))
    assert len(pairs) == 200
    # same codes, so the same order: the second group continues where the first stopped
    first, second = (sel.distance[sel.group == g] for g in (0, 1))
    assert second.min() >= first.max()


def test_ties_in_distance_are_broken_by_importance(tmp_path: Path) -> None:
    # requirement 0x0000; row X = 0x0001 sits in a dense neighbourhood (high score), row
    # Y = 0x8000 is isolated (score 0); both are at distance 1
    bits = np.zeros((6, 16), dtype=np.uint8)
    bits[0, 0] = 1                       # Y: image 0
    bits[1:, 15] = 1                     # X: images 1, 2
    bits[3, 14] = bits[4, 13] = bits[5, 12] = 1   # X's neighbours (distance 2 from 0x0000)
    bits[3:, 15] = 1
    codes = pack_bits(bits)
    store = make_store(tmp_path, "s", codes, radius=1)
    il = Store(store).read_importance()
    score = {il.codes[r].tobytes(): il.scores[r] for r in range(il.n_codes)}
    assert score[codes[1].tobytes()] > score[codes[0].tobytes()]
    req = codes_requirement(pack_bits(np.zeros((1, 16), dtype=np.uint8)), ["r"])
    sel = select(req, [store], 2)
    assert sorted(sel.image.tolist()) == [1, 2] and set(sel.distance.tolist()) == {1}
    sel3 = select(req, [store], 3)
    assert sel3.image.tolist() == [1, 2, 0]      # then Y (still distance 1), by rank


def test_requirement_codes_cli_json_csv_lists(world: dict[str, Path], tmp_path: Path) -> None:
    stores = stores_of(world)
    before = {s: digest(s) for s in stores}
    out_json, out_csv, lists = tmp_path / "sel.json", tmp_path / "sel.csv", tmp_path / "lists"
    data = json.loads(run("select", *stores, "--requirement-codes", world["req"],
                          "--budget", 90, "--json", "--export", out_json, "--lists", lists))
    assert {"requirement", "budget", "selected", "shortfall", "radius", "max_distance",
            "beyond_radius", "groups", "collections", "images", "warnings", "export",
            "lists"} == set(data)
    assert data["budget"] == data["selected"] == 90 and data["shortfall"] == 0
    assert json.loads(out_json.read_text()) == data
    images = data["images"]
    assert [r["rank"] for r in images] == list(range(1, 91))
    assert {"rank", "path", "collection", "store", "image_id", "distance", "score", "group",
            "row"} == set(images[0])
    cols = {c["collection"]: c for c in data["collections"]}
    assert list(cols) == ["a", "b", "c"]
    assert sum(c["selected"] for c in cols.values()) == 90
    assert cols["a"]["selected"] > cols["b"]["selected"]  # the requirement comes from 'a'
    for name, c in cols.items():
        mine = [r for r in images if r["collection"] == name]
        assert c["selected"] == len(mine)
        assert c["within_radius"] == sum(r["distance"] <= 2 for r in mine)
        assert c["max_distance"] == (max(r["distance"] for r in mine) if mine else None)
        assert (lists / f"{name}.txt").read_text().splitlines() == [r["path"] for r in mine]
    assert data["beyond_radius"] == sum(r["distance"] > 2 for r in images)

    run("select", *stores, "--requirement-codes", world["req"], "--budget", 90, "-q",
        "--export", out_csv)
    with out_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["rank", "path", "collection", "store", "image_id", "distance",
                             "score", "group"]
    assert [(int(r["rank"]), r["path"], int(r["distance"])) for r in rows] == \
        [(r["rank"], r["path"], r["distance"]) for r in images]
    assert {s: digest(s) for s in stores} == before


def test_human_output_and_the_beyond_radius_warning(world: dict[str, Path]) -> None:
    res = CliRunner().invoke(cli, ["select", str(world["a"]), str(world["b"]), "-q",
                                   "--requirement-codes", str(world["req"]), "--budget", "450"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("collection"))
    assert lines[header].split()[:3] == ["collection", "images", "selected"]
    assert [ln.split()[0] for ln in lines[header + 2:header + 5]] == ["a", "b", "total"]
    assert lines[header + 4].split()[1:3] == ["500", "450"]
    warnings = [ln for ln in lines if ln.startswith("warning:")]
    assert len(warnings) == 1 and "farther than τ=2" in warnings[0]


def test_weighted_codes_are_one_group_each(world: dict[str, Path]) -> None:
    weights = [a for w in (3, 1, 1, 1, 2, 2) for a in ("-w", w)]
    data = json.loads(run("select", world["a"], "--requirement-codes", world["req"],
                          "--budget", 100, "--json", *weights))
    assert [g["budget"] for g in data["groups"]] == [30, 10, 10, 10, 20, 20]
    assert [g["source"] for g in data["groups"]] == [f"req[{i}]" for i in range(6)]
    # without -w the codes file is one group
    one = json.loads(run("select", world["a"], "--requirement-codes", world["req"],
                         "--budget", 100, "--json"))
    assert len(one["groups"]) == 1 and one["groups"][0]["budget"] == 100


def test_bad_inputs_are_one_line_errors(world: dict[str, Path], tmp_path: Path) -> None:
    stores = stores_of(world)
    before = {s: digest(s) for s in stores}
    base = ["select", *stores, "--requirement-codes", world["req"]]
    assert "at least 1" in fail(*base, "--budget", 0)
    assert "at least 1" in fail(*base, "--budget", -5)
    msg = fail(*base, "--budget", 751)
    assert "larger than all 750 images" in msg and "3 store" in msg
    missing = CliRunner().invoke(cli, [str(a) for a in base])
    assert missing.exit_code == 2 and "--budget" in missing.output
    msg = fail("select", *stores, "--requirement-codes", world["req8"], "--budget", 5)
    assert "8 bits" in msg and "16-bit" in msg
    assert ".csv or .json" in fail(*base, "--budget", 5, "--export", tmp_path / "x.txt")
    assert "given twice" in fail("select", world["a"], world["a"], "--requirement-codes",
                                 world["req"], "--budget", 5)
    both = CliRunner().invoke(cli, ["select", str(world["a"]), "-r", str(tmp_path),
                                    "--requirement-codes", str(world["req"]), "--budget", "5"])
    assert both.exit_code == 2 and "not both" in both.output
    # a store without a rank, and images against stores that have no model
    unranked = tmp_path / "unranked.h5"
    np.save(tmp_path / "u.npy", clustered_codes(20, 16, 2, 0.1))
    import_codes(unranked, tmp_path / "u.npy")
    assert "no rank" in fail(*base, unranked, "--budget", 5)
    Image.new("RGB", (8, 8)).save(tmp_path / "q.png")
    assert "--requirement-codes" in fail("select", world["a"], "-r", tmp_path / "q.png",
                                         "--budget", 5)
    assert {s: digest(s) for s in stores} == before


def test_library_errors(world: dict[str, Path]) -> None:
    req = codes_requirement(np.load(world["req"]), ["x"] * 6)
    with pytest.raises(DhrError, match="at least 1"):
        select(req, [world["a"]], 0)
    with pytest.raises(DhrError, match="at least one store"):
        select(req, [], 5)
    with pytest.raises(DhrError, match="max-distance"):
        select(req, [world["a"]], 5, max_distance=-1)
    assert [g.source for g in requirement_groups(req, per_code=True)] == \
        [f"q{i}" for i in range(6)]


def test_exports_never_overwrite_a_store(world: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "a.json"            # a store whose name ends in .json
    copy.write_bytes(world["a"].read_bytes())
    before = digest(copy)
    msg = fail("select", copy, "--requirement-codes", world["req"], "--budget", 5,
               "--export", copy)
    assert "nothing is ever written to a store" in msg
    assert digest(copy) == before
    # two stores of the same name cannot share a lists folder; nothing is written then
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.h5").write_bytes(world["a"].read_bytes())
    msg = fail("select", world["a"], other / "a.h5", "--requirement-codes", world["req"],
               "--budget", 5, "--export", tmp_path / "x.csv", "--lists", tmp_path / "lists")
    assert "two stores are named 'a'" in msg
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "lists").exists()


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two image collections with one model: 'zeros' mostly 0s, 'ones' mostly 1s."""
    tmp = tmp_path_factory.mktemp("select-images")
    d = load_demo_arrays("mnist")
    y = d.class_index
    zeros, ones = (np.flatnonzero(y == c) for c in (0, 1))
    sets = {"zeros": np.concatenate([zeros[:90], ones[:30]]),
            "ones": np.concatenate([ones[30:120], zeros[90:120]])}
    for name, idx in sets.items():
        (tmp / name).mkdir()
        for i, k in enumerate(idx):
            Image.fromarray(d.images[k]).save(tmp / name / f"{i:04d}.png")
    (tmp / "req").mkdir()
    for i, k in enumerate(zeros[400:408]):
        Image.fromarray(d.images[k]).save(tmp / "req" / f"{i}.png")
    run("fit", tmp / "zeros", tmp / "ones", "-o", tmp / "model.h5", "--hasher", "itq",
        "-p", "n_bits=16", "-q")
    for name in sets:
        run("encode", tmp / name, "--model", tmp / "model.h5", "-o", tmp / f"{name}.h5", "-q")
        run("graph", tmp / f"{name}.h5", "-q")
        run("rank", tmp / f"{name}.h5", "-q", "-p", "solver=closed")
    return {"tmp": tmp, "zeros": tmp / "zeros.h5", "ones": tmp / "ones.h5", "req": tmp / "req"}


def test_image_requirement_selects_the_wanted_digits(digits: dict[str, Path],
                                                     tmp_path: Path) -> None:
    stores = [digits["ones"], digits["zeros"]]
    before = {s: digest(s) for s in stores}
    lists = tmp_path / "lists"
    data = json.loads(run("select", *stores, "-r", digits["req"], "--budget", 60, "--json",
                          "--lists", lists))
    assert data["selected"] == 60 and len(data["requirement"]) == 8
    # a zero is image < 90 in 'zeros' and image >= 90 in 'ones'
    def is_zero(r: dict[str, object]) -> bool:
        i = int(str(r["image_id"])[:4])
        return i < 90 if r["collection"] == "zeros" else i >= 90

    share = np.mean([is_zero(r) for r in data["images"]])
    assert share >= 0.8, share                   # base rate: 120 of 240 = 0.5
    for r in data["images"]:
        assert Path(r["path"]).is_absolute() and Path(r["path"]).is_file()
    assert sorted(p.name for p in lists.iterdir()) == ["ones.txt", "zeros.txt"]
    out = run("select", *stores, "-r", digits["req"], "-r", digits["req"] / "0.png",
              "-w", "0.75", "-w", "0.25", "--budget", 40, "-q")
    assert "requirement" in out and " 30 " in out and " 10 " in out   # the groups table
    assert {s: digest(s) for s in stores} == before
