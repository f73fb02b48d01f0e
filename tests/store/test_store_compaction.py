"""Fresh-space rewrites of in-place growth, the dead space they leave, and its compaction."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from dhr_sdk.offline.grow import add_codes
from dhr_sdk.offline.relevance import graph_and_rank, import_codes
from dhr_sdk.store import Store, atomic
from dhr_sdk.store.compaction import DEAD, DEAD_LIMIT, compact, space
from dhr_sdk.testing import clustered_codes
from tests.plugintools import graph_and_ranker

REWRITTEN = ("rank/node_scores", "importance/H", "importance/S", "importance/N",
             "importance/D_indptr", "importance/D")


def _store(tmp_path: Path, codes: np.ndarray) -> Path:
    np.save(tmp_path / "c.npy", codes)
    path = tmp_path / "s.h5"
    import_codes(path, tmp_path / "c.npy", overwrite=True)
    graph_and_rank(path, **graph_and_ranker())
    return path


def _importance(path: Path) -> dict[str, np.ndarray]:
    il = Store(path).read_importance()
    return {c: getattr(il, c) for c in ("codes", "scores", "order", "counts",
                                        "members_indptr", "members")}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rewritten_columns_go_after_the_old_end_and_their_old_copies_are_counted_dead(
        tmp_path: Path) -> None:
    codes = clustered_codes(6000, 32, 30, 0.03, seed=3)
    path = _store(tmp_path, codes[:5000])
    old_size = path.stat().st_size
    with h5py.File(path, "r") as h5:
        old_bytes = sum(int(h5[k].id.get_storage_size()) for k in REWRITTEN)
        assert DEAD not in h5.attrs
    add_codes(path, codes[5000:], [f"n{i}" for i in range(1000)])
    with h5py.File(path, "r") as h5:
        for key in REWRITTEN:  # every chunk of the new copy lies in fresh space
            ds = h5[key]
            offsets = [ds.id.get_chunk_info(c).byte_offset for c in range(ds.id.get_num_chunks())]
            assert min(offsets) >= old_size, key
        dead = int(h5.attrs[DEAD])
    assert dead >= old_bytes  # the node columns may have gone to fresh space too
    assert path.stat().st_size >= old_size + dead


def test_compaction_keeps_every_element_and_drops_the_dead_bytes(tmp_path: Path) -> None:
    codes = clustered_codes(6000, 32, 30, 0.03, seed=4)
    path = _store(tmp_path, codes[:5000])
    add_codes(path, codes[5000:], [f"n{i}" for i in range(1000)])
    before, il = space(path), _importance(path)
    s = Store(path)
    graph, rank = s.read_graph(), s.read_rank()
    compact(path)
    after = space(path)
    assert after.dead_bytes == 0 and before.dead_bytes > 0
    assert after.file_bytes <= before.file_bytes - before.dead_bytes + 64 * 1024
    assert set(Store(path).verify().values()) == {"verified"}
    for col, values in _importance(path).items():
        np.testing.assert_array_equal(values, il[col])
    g2, r2 = Store(path).read_graph(), Store(path).read_rank()
    assert (g2.adjacency != graph.adjacency).nnz == 0
    np.testing.assert_array_equal(r2.node_scores, rank.node_scores)
    add_codes(path, clustered_codes(200, 32, 5, 0.03, seed=9), [f"m{i}" for i in range(200)])
    assert set(Store(path).verify().values()) == {"verified"}  # still grows in place


def test_repeated_adds_keep_the_dead_space_bounded_and_equal_a_rebuild(tmp_path: Path
                                                                        ) -> None:
    codes = clustered_codes(4400, 32, 30, 0.03, seed=5)
    path = _store(tmp_path, codes[:2000])
    compacted = []
    for k in range(12):
        part = slice(2000 + 200 * k, 2200 + 200 * k)
        report = add_codes(path, codes[part], [f"{i:05d}" for i in range(part.start, part.stop)])
        compacted.append(report.compacted)
        assert space(path).dead_fraction <= DEAD_LIMIT
    assert any(compacted) and not all(compacted)
    (tmp_path / "r").mkdir()
    rebuilt = _store(tmp_path / "r", codes)
    ours, theirs = _importance(path), _importance(rebuilt)
    for col in ours:
        np.testing.assert_array_equal(ours[col], theirs[col])


class Killed(BaseException):
    """Stands for a kill: nothing after it runs."""


def test_a_kill_before_the_compacted_copy_replaces_the_store_keeps_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codes = clustered_codes(6000, 32, 30, 0.03, seed=6)
    path = _store(tmp_path, codes[:5000])
    add_codes(path, codes[5000:], [f"n{i}" for i in range(1000)])
    before = _digest(path)

    def replace(src: str, dst: str) -> None:
        raise Killed

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(Killed):
        compact(path)
    assert _digest(path) == before
    assert set(Store(path).verify().values()) == {"verified"}


@pytest.mark.parametrize("shape", [(10_000,), (5000, 8), (1,)])
def test_pages_changed_counts_the_journal_pages_that_differ(shape: tuple[int, ...]) -> None:
    from dhr_sdk.store.growth import _pages_changed
    from dhr_sdk.store.journal import PAGE

    rng = np.random.default_rng(0)
    old = rng.integers(0, 100, size=shape).astype(np.int64)
    new = old.copy()
    rows = rng.choice(shape[0], size=min(3, shape[0]), replace=False)
    new[rows] += 1
    per_page = PAGE // old[:1].nbytes
    pages = {int(r) // per_page for r in rows}
    expected = len(pages) / -(-shape[0] // per_page)
    assert _pages_changed(old, np.concatenate([new, old[:2]])) == pytest.approx(expected)
    assert _pages_changed(old, old) == 0.0


def test_a_dropped_feature_cache_is_counted_dead(tmp_path: Path) -> None:
    from dhr_sdk.core.registry import get_registry
    from dhr_sdk.store import FeaturesRecord
    from dhr_sdk.store.provenance import provenance_of

    codes = clustered_codes(6000, 32, 30, 0.03, seed=3)
    path = _store(tmp_path, codes[:5000])
    bb = get_registry().create("backbone", "pixels", {"size": 4})
    x = np.random.default_rng(0).random((6000, 16), dtype=np.float32)
    with Store(path).edit() as w:
        w.write_features(FeaturesRecord("pixels-test", x[:5000], bb.name,
                                        bb.params.model_dump(mode="json")), provenance_of(bb))
    with h5py.File(path, "r") as h5:
        cache = int(h5["features/pixels-test"].id.get_storage_size())
    kept, dropped = tmp_path / "kept.h5", tmp_path / "dropped.h5"
    for copy in (kept, dropped):
        copy.write_bytes(path.read_bytes())
    names = [f"n{i}" for i in range(1000)]
    add_codes(kept, codes[5000:], names, features={"pixels-test": x[5000:]})
    assert add_codes(dropped, codes[5000:], names).dropped_features == ["pixels-test"]
    assert cache > 0 and space(dropped).dead_bytes - space(kept).dead_bytes == cache
