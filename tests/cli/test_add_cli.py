"""``dhr add`` on real images: MNIST digits as PNGs, an ITQ-16 store made by ``dhr build``."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dhr_sdk.cli.main import cli
from dhr_sdk.data import signature as sig
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.features import load_features
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.store import Store
from dhr_sdk.store.integrity import element_digest

KEYS = {"store", "images_added", "images", "new_distinct_codes", "nodes", "new_edges", "edges",
        "components_reranked", "components", "reranked", "reason", "skipped",
        "dropped_features", "compacted", "seconds"}


def _write(folder: Path, images: np.ndarray, start: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{start + i:04d}.png")


def _run(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    return res.exit_code, res.output


def _by_name(path: Path) -> dict[str, object]:
    s = Store(path)
    ids = s.read_collection().image_ids
    codes = s.read_codes().codes
    graph, rank, il = s.read_graph(), s.read_rank(), s.read_importance()
    nc = graph.node_codes
    a = graph.adjacency.tocoo()
    feats = load_features(path)
    return {
        "codes": {iid: codes[i].tobytes() for i, iid in enumerate(ids)},
        "features": {iid: feats.features[i].tobytes() for i, iid in enumerate(feats.image_ids)},
        "edges": {(nc[i].tobytes(), nc[j].tobytes(), float(w))
                  for i, j, w in zip(a.row, a.col, a.data, strict=True)},
        "scores": {nc[t].tobytes(): float(rank.node_scores[t]) for t in range(len(nc))},
        "rows": [(il.codes[r].tobytes(), float(il.scores[r]),
                  sorted(ids[k] for k in il.images_of(r))) for r in range(il.n_codes)],
        "skipped": sorted(s.read_collection().skipped)}


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    tmp = tmp_path_factory.mktemp("add")
    images = load_demo_arrays("mnist").images[:160]
    _write(tmp / "digits" / "first", images[:120], 0)
    code, out = _run("build", tmp / "digits", "-o", tmp / "s.h5", "-p", "n_bits=16",
                     "-p", "ranker.solver=closed", "-q")
    assert code == 0, out
    shutil.copy(tmp / "s.h5", tmp / "model.h5")
    _write(tmp / "digits" / "more", images[120:], 120)
    (tmp / "digits" / "more" / "broken.png").write_bytes(b"not a png")
    code, out = _run("add", tmp / "s.h5", tmp / "digits" / "more", "--json")
    assert code == 0, out
    return tmp, tmp / "s.h5", json.loads(out)


def test_add_reports_and_equals_a_rebuild_with_the_same_model(
        grown: tuple[Path, Path, dict[str, object]]) -> None:
    tmp, store, report = grown
    assert set(report) == KEYS
    assert report["images_added"] == 40 and report["images"] == 160
    assert report["reranked"] == "touched" and report["reason"] == ""
    assert [s["image"] for s in report["skipped"]] == ["more/broken.png"]  # type: ignore[index]
    assert report["components_reranked"] <= report["components"]
    code, out = _run("build", tmp / "digits", "-o", tmp / "full.h5", "--model", tmp / "model.h5",
                     "-p", "ranker.solver=closed", "-q")
    assert code == 0, out
    a, b = _by_name(store), _by_name(tmp / "full.h5")
    assert a == b
    assert Store(store).read_collection().signature == \
        Store(tmp / "full.h5").read_collection().signature
    assert set(Store(store).verify().values()) == {"verified"}


def test_add_refuses_known_and_outside_images_leaving_the_store(
        grown: tuple[Path, Path, dict[str, object]]) -> None:
    tmp, store, _ = grown
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    code, out = _run("add", store, tmp / "digits" / "more" / "0130.png")
    assert code == 1 and "already in the store" in out and len(out.strip().splitlines()) == 1
    _write(tmp / "elsewhere", load_demo_arrays("mnist").images[200:201], 0)
    code, out = _run("add", store, tmp / "elsewhere")
    assert code == 1 and "not inside the store's collection folder" in out
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before


def test_add_prints_a_summary(grown: tuple[Path, Path, dict[str, object]]) -> None:
    tmp, store, _ = grown
    _write(tmp / "digits" / "third", load_demo_arrays("mnist").images[300:305], 300)
    code, out = _run("add", store, tmp / "digits" / "third" / "0300.png",
                     tmp / "digits" / "third" / "0301.png")
    assert code == 0, out
    assert "added 2 images (0 skipped), 162 in all" in out and "components" in out


def test_add_codes_without_feature_rows_drops_the_cache(
        grown: tuple[Path, Path, dict[str, object]]) -> None:
    from dhr_sdk.offline.grow import add_codes

    tmp, store, _ = grown
    copy = tmp / "codes-only.h5"
    shutil.copy(store, copy)
    key = Store(copy).feature_keys()
    new = Store(copy).read_codes().codes[:3] ^ np.uint8(0xFF)
    report = add_codes(copy, new, ["x/a.png", "x/b.png", "x/c.png"])
    assert report.dropped_features == key and Store(copy).feature_keys() == []
    assert set(Store(copy).verify().values()) == {"verified"}


def test_add_extends_the_signature_without_reading_the_old_files(tmp_path: Path) -> None:
    """The old files keep the state the store recorded: one changed since the build is
    still caught by the next build (its cache is not reused), and a store with the older
    kind of signature gets the new kind, computed whole."""
    images = load_demo_arrays("mnist").images[:30]
    root = tmp_path / "digits"
    _write(root / "first", images[:20], 0)
    code, out = _run("build", root, "-o", tmp_path / "s.h5", "-p", "n_bits=16", "-q")
    assert code == 0, out
    shutil.copy(tmp_path / "s.h5", tmp_path / "legacy.h5")
    before = Store(tmp_path / "s.h5").read_collection().signature
    Image.fromarray(255 - images[0]).save(root / "first" / "0000.png")  # changed since
    _write(root / "more", images[20:25], 20)
    (root / "more" / "notes.txt").write_text("not an image")
    code, out = _run("add", tmp_path / "s.h5", root / "more", "-q")
    assert code == 0, out
    new = ["more/notes.txt", *[f"more/{20 + i:04d}.png" for i in range(5)]]
    grown = Store(tmp_path / "s.h5").read_collection().signature
    assert grown == sig.extended(before, root, new)
    assert grown != Collection.from_folder(root).signature()
    code, out = _run("build", root, "-o", tmp_path / "s.h5", "-p", "n_bits=16", "-q")
    assert code == 0, out
    feats = load_features(tmp_path / "s.h5")  # recomputed: the changed file's features
    np.testing.assert_allclose(feats.features[feats.image_ids.index("first/0000.png")],
                               (255 - images[0]).ravel() / 255, rtol=1e-6)

    legacy = Store(tmp_path / "legacy.h5")
    rec = legacy.read_collection()
    with h5py.File(legacy.path, "r+") as h5:  # as a store written before the "2:" kind
        col = h5["collection"]
        col.attrs["signature"] = sig.legacy(rec.root, [*rec.image_ids, *rec.skipped])
        col.attrs["checksum"] = element_digest(col)
    assert set(legacy.verify().values()) == {"verified"}
    code, out = _run("add", legacy.path, root / "more", "-q")
    assert code == 0, out
    assert legacy.read_collection().signature == Collection.from_folder(root).signature()


def test_adding_a_file_the_build_skipped_signs_the_collection_whole(tmp_path: Path) -> None:
    """A file unreadable at build time, repaired and then added: its recorded state is
    unknown, so the signature is computed over every file and matches the folder."""
    images = load_demo_arrays("mnist").images[:12]
    root = tmp_path / "digits"
    _write(root, images[:10], 0)
    (root / "late.png").write_bytes(b"not a png yet")
    code, out = _run("build", root, "-o", tmp_path / "s.h5", "-p", "n_bits=8", "-q")
    assert code == 0, out
    assert Store(tmp_path / "s.h5").read_collection().skipped == ["late.png"]
    Image.fromarray(images[11]).save(root / "late.png")
    code, out = _run("add", tmp_path / "s.h5", root / "late.png", "--json")
    assert code == 0, out
    rec = Store(tmp_path / "s.h5").read_collection()
    assert rec.skipped == [] and rec.image_ids[-1] == "late.png"
    assert rec.signature == Collection.from_folder(root).signature()
