"""Reading a store trusts only the file, and only content that checks out (issue #16).

Flipped bytes, impossible values, deleted datasets and attributes each give one ``Error:``
line naming the store and the element; links and storage outside the file are refused;
stores written before checksums (format 1.0) stay readable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.types import RankResult
from dhr_sdk.offline.importance import TIE_RULE, build_importance_list
from dhr_sdk.store import (
    CodesRecord,
    CollectionRecord,
    FeaturesRecord,
    ModelRecord,
    Provenance,
    Store,
    StoreDamagedError,
)
from dhr_sdk.store.integrity import element_digest
from dhr_sdk.testing import brute_force_graph, clustered_codes

PROV = Provenance(plugin="test", kind="hasher", params={"n_bits": 16}, seed=1)
N = 60


def full_store(path: Path) -> Path:
    """A store holding every element (consistent, as the pipeline writes them)."""
    codes = clustered_codes(N, 16, 4, 0.05, seed=3)
    graph = brute_force_graph(codes, 16, 2)
    degree = np.asarray(graph.adjacency.sum(axis=1)).ravel() + 1.0
    result = RankResult(degree / degree.mean(), "cpr", 0, True, 0.0, {"solver": "closed"})
    store = Store.create(path)
    with store.edit() as w:
        w.write_collection(CollectionRecord(image_ids=[f"i{k}.png" for k in range(N)],
                                            root="/data", skipped=["x.png"],
                                            skipped_reasons=["unreadable"]))
        w.write_features(FeaturesRecord("pixels-1", np.ones((N, 4)), "pixels", {}), PROV)
        w.write_model(ModelRecord("itq", {"n_bits": 16}, {"W": np.ones((4, 16)),
                                                          "sub/mean": np.zeros(4)},
                                  16, "pixels", {}, PROV))
        w.write_codes(CodesRecord(codes, 16, PROV))
        w.write_graph(graph, PROV)
        w.write_rank(result, PROV)
        w.write_importance(build_importance_list(graph, result), TIE_RULE)
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return full_store(tmp_path / "s.h5")


def info(path: Path) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["info", str(path), "--json"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def one_error(path: Path, element: str, *words: str) -> None:
    code, text = info(path)
    lines = text.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), text
    assert str(path) in lines[0] and f"element '{element}'" in lines[0], text
    for word in words:
        assert word in lines[0], text


def reseal(path: Path, element: str) -> None:
    """What a writer with a bug does: impossible values with a valid checksum."""
    with h5py.File(path, "a") as h5:
        h5[element].attrs["checksum"] = element_digest(h5[element])


def flip_bit(path: Path, dataset: str, index: int = 0) -> None:
    with h5py.File(path, "r") as h5:
        ds = h5[dataset]
        base = ds.id.get_offset() if ds.chunks is None else ds.id.get_chunk_info(0).byte_offset
        offset = base + index * ds.dtype.itemsize
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 1]))


def test_every_element_is_verified_and_info_says_so(store: Path) -> None:
    code, text = info(store)
    assert code == 0, text
    out = json.loads(text)
    assert out["format_version"] == "2.0"
    assert {e["checksum"] for e in out["elements"].values()} == {"verified"}
    assert Store(store).verify() == {k: "verified" for k in (
        "collection", "features/pixels-1", "model", "codes", "graph", "rank", "importance")}


def test_one_flipped_bit_in_the_scores_is_caught(store: Path) -> None:
    before = Store(store).read_importance().scores
    # a score strictly between its neighbours: the flip keeps the order, only the sum sees it
    i = int(np.flatnonzero((before[:-2] > before[1:-1]) & (before[1:-1] > before[2:]))[0]) + 1
    flip_bit(store, "importance/S", i)
    with h5py.File(store, "r") as h5:
        changed = h5["importance/S"][()]
    assert changed[i] != before[i] and np.all(np.diff(changed) <= 0)
    one_error(store, "importance", "checksum does not match", "dhr rank")
    with pytest.raises(StoreDamagedError, match="element 'importance'"):
        Store(store).read_importance()


@pytest.mark.parametrize("dataset", ["collection/image_ids", "features/pixels-1", "model/state/W",
                                     "codes", "graph/node_codes", "graph/adjacency/data",
                                     "rank/node_scores", "importance/H", "importance/D"])
def test_a_flipped_bit_in_any_element_is_caught(store: Path, dataset: str) -> None:
    flip_bit(store, dataset, 1)
    one_error(store, dataset.split("/")[0] if not dataset.startswith("features") else
              "features/pixels-1")


def test_nan_scores_negative_indices_and_unsorted_rows_are_refused(store: Path) -> None:
    with h5py.File(store, "a") as h5:
        h5["importance/S"][...] = np.nan
    reseal(store, "importance")
    one_error(store, "importance", "NaN")
    full_store(store.with_name("t.h5"))
    with h5py.File(store.with_name("t.h5"), "a") as h5:
        d = h5["importance/D"]
        d[0] = -1
    reseal(store.with_name("t.h5"), "importance")
    one_error(store.with_name("t.h5"), "importance", "-1")
    full_store(store.with_name("u.h5"))
    with h5py.File(store.with_name("u.h5"), "a") as h5:
        s = h5["importance/S"]
        s[0], s[-1] = s[-1], s[0]
    reseal(store.with_name("u.h5"), "importance")
    one_error(store.with_name("u.h5"), "importance", "descending")
    full_store(store.with_name("v.h5"))
    with h5py.File(store.with_name("v.h5"), "a") as h5:
        h5["rank/node_scores"][0] = np.inf
        h5["graph/image_nodes"][0] = 10**6
    reseal(store.with_name("v.h5"), "rank")
    reseal(store.with_name("v.h5"), "graph")
    with pytest.raises(StoreDamagedError, match=r"element 'rank'.*NaN or infinite"):
        Store(store.with_name("v.h5")).read_rank()
    with pytest.raises(StoreDamagedError, match=r"element 'graph'.*image_nodes"):
        Store(store.with_name("v.h5")).read_graph()


def _parts(path: Path) -> list[tuple[str, str | None]]:
    """(object, attribute) of every dataset and every attribute of every element."""
    found: list[tuple[str, str | None]] = []
    with h5py.File(path, "r") as h5:
        def add(name: str, obj: h5py.HLObject) -> None:
            if isinstance(obj, h5py.Dataset):
                found.append((name, None))
            found.extend((name, key) for key in obj.attrs)
        h5.visititems(add)
    return found


def _element_of(name: str) -> str:
    parts = name.split("/")
    return "/".join(parts[:2]) if parts[0] == "features" else parts[0]


def _delete(path: Path, name: str, attr: str | None) -> None:
    with h5py.File(path, "a") as h5:
        if attr is None:
            del h5[name]
        else:
            del h5[name].attrs[attr]


def test_every_deleted_dataset_or_attribute_is_one_error_line(tmp_path: Path) -> None:
    template = full_store(tmp_path / "template.h5")
    parts = _parts(template)
    assert len(parts) > 60
    for k, (name, attr) in enumerate(parts):
        path = Path(shutil.copy(template, tmp_path / f"s{k}.h5"))
        _delete(path, name, attr)
        element = _element_of(name)
        if attr is None and name == element:  # a whole element is gone: the store lacks it
            assert info(path)[0] == 0
            continue
        one_error(path, element)


def downgrade(path: Path) -> None:
    """What a store written by the format 1.0 writer looks like: no checksums."""
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = "1.0"

        def strip(name: str, obj: h5py.HLObject) -> None:
            if obj.attrs.get("encoding-version") == "2.0":
                obj.attrs["encoding-version"] = "1.0"
            for key in ("checksum", "segments", "segment_digests"):
                if key in obj.attrs:
                    del obj.attrs[key]
        h5.visititems(strip)


def test_stores_without_checksums_stay_readable(store: Path) -> None:
    downgrade(store)
    code, text = info(store)
    assert code == 0, text
    assert {e["checksum"] for e in json.loads(text)["elements"].values()} == {"none"}
    assert Store(store).read_importance().n_images == N
    with Store(store).edit() as w:  # a new element gets a checksum, old ones stay as they are
        w.write_features(FeaturesRecord("pixels-2", np.zeros((N, 2)), "pixels", {}), PROV)
    assert Store(store).verify()["features/pixels-2"] == "verified"
    assert Store(store).verify()["importance"] == "none"
    with h5py.File(store, "r") as h5:
        assert h5.attrs["format_version"] == "2.0"


def test_old_stores_still_get_value_checks_and_one_line_errors(tmp_path: Path) -> None:
    template = full_store(tmp_path / "template.h5")
    parts = _parts(template)
    downgrade(template)
    for k, (name, attr) in enumerate(parts):
        if attr in ("checksum", "encoding-version", "encoding-type", "segments",
                    "segment_digests"):
            continue
        path = Path(shutil.copy(template, tmp_path / f"s{k}.h5"))
        _delete(path, name, attr)
        code, text = info(path)  # either fine (an optional part) or one error line
        assert code == 0 or (len(text.strip().splitlines()) == 1
                             and text.startswith("Error: ")), (name, attr, text)
    path = full_store(tmp_path / "nan.h5")
    downgrade(path)
    with h5py.File(path, "a") as h5:
        h5["importance/S"][...] = np.nan
    one_error(path, "importance", "NaN")
    with h5py.File(path, "a") as h5:
        h5["rank"].attrs["info"] = "{not json"
    with pytest.raises(StoreDamagedError, match=r"element 'rank'.*not valid JSON"):
        Store(path).read_rank()


def test_a_checksum_attribute_removed_from_a_new_element_is_damage(store: Path) -> None:
    with h5py.File(store, "a") as h5:
        del h5["codes"].attrs["checksum"]
    one_error(store, "codes", "checksum attribute is missing")


def _refused(path: Path, *words: str) -> None:
    for args in (["info", str(path)], ["rank", str(path), "--json"], ["graph", str(path)]):
        res = CliRunner().invoke(cli, args)
        lines = res.output.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and "is refused" in lines[0], res.output
        for word in words:
            assert word in lines[0], res.output
        assert "SECRET" not in res.output


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_bytes(b"SECRET-" * 200)
    return path


def test_external_storage_is_refused(store: Path, secret: Path) -> None:
    with h5py.File(store, "a") as h5:
        attrs = dict(h5["codes"].attrs)
        del h5["codes"]
        ds = h5.create_dataset("codes", shape=(N, 2), dtype=np.uint8,
                               external=[(str(secret), 0, N * 2)])
        ds.attrs.update(attrs)
    _refused(store, "external files", str(secret))


def test_external_links_are_refused(store: Path, secret: Path) -> None:
    other = store.with_name("other.h5")
    with h5py.File(other, "w") as h5:
        h5["x"] = np.frombuffer(secret.read_bytes(), dtype=np.uint8)
    with h5py.File(store, "a") as h5:
        del h5["graph/node_codes"]
        h5["graph/node_codes"] = h5py.ExternalLink(str(other), "/x")
    _refused(store, "external link", "/graph/node_codes")


def test_virtual_datasets_soft_links_and_shared_objects_are_refused(tmp_path: Path,
                                                                     secret: Path) -> None:
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["x"] = np.frombuffer(secret.read_bytes(), dtype=np.uint8)[:N * 2].reshape(N, 2)
    path = full_store(tmp_path / "vds.h5")
    with h5py.File(path, "a") as h5:
        attrs = dict(h5["codes"].attrs)
        del h5["codes"]
        layout = h5py.VirtualLayout(shape=(N, 2), dtype=np.uint8)
        layout[:] = h5py.VirtualSource(str(other), "x", shape=(N, 2))
        h5.create_virtual_dataset("codes", layout).attrs.update(attrs)
    _refused(path, "virtual dataset")
    path = full_store(tmp_path / "soft.h5")
    with h5py.File(path, "a") as h5:
        h5["rank/extra"] = h5py.SoftLink("/codes")
    _refused(path, "soft link")
    path = full_store(tmp_path / "hard.h5")
    with h5py.File(path, "a") as h5:
        h5["rank/again"] = h5["codes"]
    _refused(path, "second link")


def test_filters_that_would_load_a_plugin_are_refused(store: Path) -> None:
    with h5py.File(store, "a") as h5:
        h5.create_dataset("rank/extra", data=np.zeros(100), chunks=(10,), compression="gzip")
    reseal(store, "rank")
    assert info(store)[0] == 0  # a built-in filter is fine
    with h5py.File(store, "a") as h5:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((10,))
        dcpl.set_filter(32001, h5py.h5z.FLAG_OPTIONAL)  # optional: writing works without it
        space = h5py.h5s.create_simple((100,))
        h5py.h5d.create(h5["rank"].id, b"plugged", h5py.h5t.NATIVE_DOUBLE, space, dcpl=dcpl)
    _refused(store, "filter 32001")


def test_a_few_image_ids_are_read_verified(store: Path) -> None:
    """read_image_ids gives read_collection's ids at the asked rows, checked the same way."""
    every = Store(store).read_collection().image_ids
    rows = [len(every) - 1, 0, 3, 3]
    assert Store(store).read_image_ids(rows) == [every[r] for r in rows]
    assert Store(store).read_image_ids([]) == []
    with pytest.raises(DhrError, match="out of range"):
        Store(store).read_image_ids([len(every)])
    flip_bit(store, "collection/image_ids", 1)
    with pytest.raises(StoreDamagedError, match="element 'collection'"):
        Store(store).read_image_ids([0])
