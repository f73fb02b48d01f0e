"""The collection signature: order-free, extendable, and the older kind still matched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dhr_sdk.core.registry import get_registry
from dhr_sdk.data import loader as L
from dhr_sdk.data import signature as sig
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.features import extract_collection
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.store import Store


def _files(root: Path, names: list[str]) -> None:
    for k, n in enumerate(names):
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_bytes(bytes(k + 1))


def _sha256_of_sorted_entries(root: Path, ids: list[str]) -> str:
    """The signature as stores before the ``2:`` kind computed it (a naive reference)."""
    h = hashlib.sha256()
    for iid in sorted(set(ids)):
        p = root / iid
        h.update(f"{iid}\0{p.stat().st_size}\0{p.stat().st_mtime_ns}\n".encode()
                 if p.exists() else f"{iid}\0missing\n".encode())
    return h.hexdigest()[:32]


def test_signature_is_a_sum_over_files(tmp_path: Path) -> None:
    names = ["a.png", "b.png", "sub/c.png", "d.png"]
    _files(tmp_path, names)
    whole = sig.signature(tmp_path, names)
    assert whole.startswith(sig.PREFIX) and len(whole) == len(sig.PREFIX) + 32
    assert sig.signature(tmp_path, names[::-1]) == whole
    assert sig.extended(sig.signature(tmp_path, names[:1]), tmp_path, names[1:]) == whole
    assert sig.extended(sig.signature(tmp_path, []), tmp_path, names) == whole
    # a missing file has its own digest; a changed file changes the signature
    assert sig.signature(tmp_path, [*names, "gone.png"]) != whole
    os.utime(tmp_path / "b.png", ns=(1, 1))
    assert sig.signature(tmp_path, names) != whole


def test_legacy_signatures_are_recognised_not_extended(tmp_path: Path) -> None:
    names = ["a.png", "b.png", "x/missing.png"]
    _files(tmp_path, names[:2])
    old = _sha256_of_sorted_entries(tmp_path, names)
    assert sig.legacy(tmp_path, names) == old
    assert sig.like(old, tmp_path, names) == old
    assert sig.like(sig.signature(tmp_path, names), tmp_path, names) == \
        sig.signature(tmp_path, names)
    assert sig.extended(old, tmp_path, ["c.png"]) is None
    assert sig.extended(sig.PREFIX + "not hex", tmp_path, ["c.png"]) is None


def test_a_store_with_a_legacy_signature_keeps_its_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "c"
    root.mkdir()
    for i, img in enumerate(load_demo_arrays("mnist").images[:6]):
        Image.fromarray(img).save(root / f"{i}.png")
    store, backbone = tmp_path / "s.h5", get_registry().create("backbone", "pixels", {})
    first = extract_collection(store, Collection.from_folder(root), backbone, workers=0)
    rec = Store(store).read_collection()
    rec.signature = _sha256_of_sorted_entries(root, [*rec.image_ids, *rec.skipped])
    with Store(store).edit() as w:
        w.write_collection(rec)
        w.write_features(first.features, Store(store).provenance(f"features/{first.features.key}"))
    calls: list[int] = []
    real_run = L.run_batches
    monkeypatch.setattr(L, "run_batches", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    again = extract_collection(store, Collection.from_folder(root), backbone, workers=0)
    assert again.cached and calls == []
    np.testing.assert_array_equal(again.features.features, first.features.features)
    Image.fromarray(load_demo_arrays("mnist").images[9]).save(root / "0.png")
    assert not extract_collection(store, Collection.from_folder(root), backbone,
                                  workers=0).cached
    assert calls == [1]
