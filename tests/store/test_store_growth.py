"""Partial reads of a 2.0 store for ``dhr add``: id membership by hash, exact on a hit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dhr_sdk.store import CollectionRecord, Store
from dhr_sdk.store import format as fmt
from dhr_sdk.store.format import id_hashes as _id_hashes
from dhr_sdk.store.growth import read_collection_head


def test_id_membership_is_exact(tmp_path: Path) -> None:
    ids = ["a", "b/c.png", "é/ü.png", "x" * 300, "ab", "ba"]
    path = tmp_path / "s.h5"
    Store.create(path)
    with Store(path).edit() as w:
        w.write_collection(CollectionRecord(image_ids=ids, root="/r", skipped=["bad.png"],
                                            skipped_reasons=["not an image"]))
    head = read_collection_head(Store(path))
    assert head is not None and head.ids() == ids and head.skipped == ["bad.png"]
    asked = ["ab", "a", "abc", "é/ü.png", "b/c.pn", "", "x" * 300, "x" * 299]
    assert head.present(asked) == ["ab", "a", "é/ü.png", "x" * 300]


def test_id_hashes_are_per_id_and_position_sensitive() -> None:
    ids = ["ab", "ba", "", "ab", "a\u00e9"]
    h = _id_hashes(fmt.ids_blob(ids), len(ids))
    assert h[0] == h[3] and h[0] != h[1] and h[2] == 0
    assert np.array_equal(h, [_id_hashes(fmt.ids_blob([i]), 1)[0] for i in ids])


def test_membership_reads_the_ids_only_on_a_hash_hit(tmp_path: Path) -> None:
    ids = [f"img/{i:06d}.png" for i in range(20_000)]
    path = tmp_path / "s.h5"
    Store.create(path)
    with Store(path).edit() as w:
        w.write_collection(CollectionRecord(image_ids=ids, root="/r"))
    head = read_collection_head(Store(path))
    assert head is not None
    read = head.read_blob

    def refuse() -> np.ndarray:
        raise AssertionError("the ids were decoded without a matching hash")

    head.read_blob = refuse
    assert head.present([f"img/{i:06d}.png" for i in range(20_000, 25_000)]) == []
    head.read_blob = read
    asked = [ids[7], "img/x.png", ids[-1], f"img/{20_001:06d}.png"]
    assert head.present(asked) == [ids[7], ids[-1]]


def test_adjacency_rows_are_the_stored_rows(tmp_path: Path) -> None:
    from dhr_sdk.offline.grow import add_codes
    from dhr_sdk.offline.relevance import graph_and_rank, import_codes
    from dhr_sdk.store.growth import adjacency_rows
    from dhr_sdk.testing import clustered_codes
    from tests.plugintools import graph_and_ranker

    codes = clustered_codes(900, 32, 8, 0.04, seed=2)
    np.save(tmp_path / "c.npy", codes[:800])
    path = tmp_path / "s.h5"
    import_codes(path, tmp_path / "c.npy")
    graph_and_rank(path, **graph_and_ranker())
    add_codes(path, codes[800:], [f"n{i}" for i in range(100)])  # appended edges too
    adjacency = Store(path).read_graph().adjacency.tocsr()
    nodes = np.unique(np.random.default_rng(0).integers(0, adjacency.shape[0], 60))
    r, c, w = adjacency_rows(Store(path), nodes)
    got = sorted(zip(r.tolist(), c.tolist(), w.tolist(), strict=True))
    sub = adjacency[nodes].tocoo()
    want = sorted(zip(nodes[sub.row].tolist(), sub.col.tolist(), sub.data.tolist(),
                      strict=True))
    assert got == want
