"""HDF5 store: round trips, versioning, refusal of foreign files, atomicity under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from dhr_sdk.core.errors import MissingElementError, StoreFormatError
from dhr_sdk.core.types import RankResult
from dhr_sdk.offline.importance import build_importance_list
from dhr_sdk.store import CodesRecord, CollectionRecord, FeaturesRecord, Provenance, Store
from dhr_sdk.testing import brute_force_graph, clustered_codes

PROV = Provenance(plugin="test", kind="hasher", params={"n_bits": 16}, seed=7)


def _collection(n: int = 5) -> CollectionRecord:
    labels = sp.csr_matrix(np.eye(n, 3, dtype=np.uint8))
    return CollectionRecord(image_ids=[f"dir/ümg{i}.png" for i in range(n)], root="/data",
                            skipped=["bad.jpg"], skipped_reasons=["cannot identify image"],
                            labels=labels, label_names=["a", "b", "c"])


def test_collection_codes_features_round_trip(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s.h5")
    codes = clustered_codes(5, 16, 2, 0.1)
    with store.edit() as w:
        w.write_collection(_collection())
        w.write_features(FeaturesRecord("pixels-abc", np.ones((5, 3)), "pixels", {"size": 28}),
                         PROV)
        w.write_codes(CodesRecord(codes, 16, PROV))
    rec = store.read_collection()
    assert rec.image_ids[1] == "dir/ümg1.png" and rec.skipped == ["bad.jpg"]
    assert (rec.labels != _collection().labels).nnz == 0 and rec.label_names == ["a", "b", "c"]
    back = store.read_codes()
    assert np.array_equal(back.codes, codes) and back.n_bits == 16
    assert back.provenance.seed == 7 and back.provenance.params == {"n_bits": 16}
    assert store.read_features("pixels-abc").backbone_params == {"size": 28}


def test_graph_rank_importance_round_trip_and_invalidation(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s.h5")
    codes = clustered_codes(50, 16, 4, 0.05)
    graph = brute_force_graph(codes, 16, 2)
    result = RankResult(np.arange(graph.n_nodes, dtype=float), "cpr", 12, False, 0.5,
                        {"solver": "power"})
    il = build_importance_list(graph, result)
    with store.edit() as w:
        w.write_codes(CodesRecord(codes, 16, PROV))
        w.write_graph(graph, PROV)
        w.write_rank(result, PROV)
        w.write_importance(il, "score desc, then code bytes asc")
    g = store.read_graph()
    assert (g.adjacency != graph.adjacency).nnz == 0 and g.merged and g.radius == 2
    r = store.read_rank()
    assert (r.iterations, r.converged, r.residual, r.info) == (12, False, 0.5, {"solver": "power"})
    back = store.read_importance()
    assert np.array_equal(back.counts, il.counts) and np.array_equal(back.members, il.members)
    assert sorted(back.counts) == sorted(graph.node_counts)
    with store.edit() as w:  # new codes make graph, rank and importance stale
        w.write_codes(CodesRecord(codes, 16, PROV))
    assert store.elements() == ["codes"]
    with pytest.raises(MissingElementError, match="run 'dhr graph' first"):
        store.read_graph()


def test_refuses_files_that_are_not_stores(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(StoreFormatError, match="not a dhr store"):
        Store(text)
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = 1
    with pytest.raises(StoreFormatError, match="not a dhr store"):
        Store(tmp_path / "other.h5")


def test_refuses_newer_major_version(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s.h5")
    with h5py.File(store.path, "a") as h5:
        h5.attrs["format_version"] = "3.0"
    with pytest.raises(StoreFormatError, match=r"format version 3.0.*upgrade dhr-sdk"):
        Store(store.path)


def test_refuses_newer_element_version(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s.h5")
    with store.edit() as w:
        w.write_codes(CodesRecord(clustered_codes(3, 8, 1, 0.1), 8, PROV))
    with h5py.File(store.path, "a") as h5:
        h5["codes"].attrs["encoding-version"] = "3.1"
    with pytest.raises(StoreFormatError, match=r"element 'codes'.*3\.1"):
        store.read_codes()


def test_create_does_not_clobber(tmp_path: Path) -> None:
    Store.create(tmp_path / "s.h5")
    with pytest.raises(StoreFormatError, match="already exists"):
        Store.create(tmp_path / "s.h5")


def test_failed_edit_leaves_previous_content(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s.h5")
    with store.edit() as w:
        w.write_collection(_collection())
    with pytest.raises(RuntimeError), store.edit() as w:
        w.write_collection(CollectionRecord(image_ids=["other"]))
        raise RuntimeError("crash inside the edit")
    assert store.read_collection().image_ids == _collection().image_ids
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]


def test_object_arrays_are_refused_in_model_state(tmp_path: Path) -> None:
    from dhr_sdk.store import ModelRecord

    store = Store.create(tmp_path / "s.h5")
    rec = ModelRecord("x", {}, {"w": np.array([{"a": 1}], dtype=object)}, 16, "none", {}, PROV)
    with pytest.raises(StoreFormatError, match="plain arrays"), store.edit() as w:
        w.write_model(rec)


CHILD = textwrap.dedent("""
    import sys, time, numpy as np
    from dhr_sdk.store import FeaturesRecord, Provenance, Store
    store = Store(sys.argv[1])
    with store.edit() as w:
        big = np.random.default_rng(0).random((40_000, 1_000), dtype=np.float32)  # 160 MB
        w.write_features(FeaturesRecord("big", big, "pixels", {}), Provenance("t", "backbone"))
        w.h5.flush()
        open(sys.argv[2], "w").close()
        time.sleep(60)
""")


def test_sigkill_during_a_large_write_keeps_previous_content(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "s.h5")
    with store.edit() as w:
        w.write_collection(_collection())
    before = store.path.read_bytes()
    marker = tmp_path / "written"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(store.path), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "writer exited early"
            assert time.monotonic() < deadline, "writer too slow"
            time.sleep(0.05)
        assert any(p.name.startswith(".s.h5.tmp-") for p in tmp_path.iterdir())
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert store.path.read_bytes() == before
    assert Store(store.path).read_collection().image_ids == _collection().image_ids
    assert "features" not in Store(store.path).elements()
    with store.edit() as w:  # the next writer removes the dead writer's temp copy
        w.write_codes(CodesRecord(clustered_codes(5, 8, 1, 0.1), 8, PROV))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5", "written"]
