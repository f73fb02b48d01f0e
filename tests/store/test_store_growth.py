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
