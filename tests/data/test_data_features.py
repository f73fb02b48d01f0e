"""Feature extraction: reference values, unusable files, the cache and its invalidation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dhr_sdk.core.device import resolve_device
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data import loader as L
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.features import (
    ensure_features,
    extract_collection,
    features_from_arrays,
    features_key,
    load_features,
)
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.store import Store


def _backbone(name: str = "pixels", **params: object):  # type: ignore[no-untyped-def]
    return get_registry().create("backbone", name, params)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_demo_arrays("mnist").images[:40]


def _write(root: Path, images: np.ndarray) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    names = [f"{i:03d}.png" for i in range(len(images))]
    for n, img in zip(names, images, strict=True):
        Image.fromarray(img).save(root / n)
    return names


def _add_bad_files(root: Path) -> dict[str, str]:
    """One file of each unusable kind; returns name -> expected reason fragment."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 20), dtype=np.uint8)).save(
        buf, format="PNG")
    png = buf.getvalue()
    (root / "zero.png").write_bytes(b"")
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    mid = len(png) // 2
    (root / "corrupt.png").write_bytes(png[:mid] + bytes(40) + png[mid + 40:])
    (root / "text.jpg").write_text("not an image")
    (root / "notes.md").write_text("# notes")
    return {"zero.png": "empty", "truncated.png": "truncated", "corrupt.png": "corrupt",
            "text.jpg": "not an image", "notes.md": "extension"}


def test_pixels_match_independent_reference(digits: np.ndarray) -> None:
    feats = features_from_arrays(digits, _backbone(), batch_size=16)
    assert feats.dtype == np.float32 and feats.shape == (40, 784)
    np.testing.assert_allclose(feats, digits.reshape(40, -1) / 255.0, atol=1e-7)
    z = features_from_arrays(digits, _backbone(normalise="zscore"))
    ref = digits.reshape(40, -1).astype(np.float64) / 255
    ref = (ref - ref.mean(1, keepdims=True)) / ref.std(1, ddof=1, keepdims=True)
    np.testing.assert_allclose(z, ref, atol=1e-5)
    rgb = features_from_arrays(np.repeat(digits[..., None], 3, axis=3),
                               _backbone(grayscale=False, size=14))
    assert rgb.shape == (40, 14 * 14 * 3)
    with pytest.raises(DhrError, match="uint8"):
        features_from_arrays(digits.astype(np.float32), _backbone())


def test_folder_equals_arrays_and_bad_files_are_reported(tmp_path: Path,
                                                         digits: np.ndarray) -> None:
    root = tmp_path / "c"
    names = _write(root, digits)
    bad = _add_bad_files(root)
    bb = _backbone("resnet18", weights="none", image_size=32)
    res = extract_collection(tmp_path / "s.h5", Collection.from_folder(root), bb,
                             batch_size=7, workers=2)
    assert not res.cached and res.collection.image_ids == names
    reasons = dict(zip(res.collection.skipped, res.collection.skipped_reasons, strict=True))
    assert set(reasons) == set(bad)
    for name, fragment in bad.items():
        assert fragment in reasons[name], (name, reasons[name])
    assert set(res.newly_skipped) == set(bad) - {"notes.md"}
    ref = features_from_arrays(digits, bb, batch_size=13)
    np.testing.assert_allclose(res.features.features, ref, rtol=1e-4, atol=1e-5)
    stored = load_features(tmp_path / "s.h5")
    assert stored.image_ids == names and stored.key == features_key(bb)
    np.testing.assert_array_equal(stored.features, res.features.features)
    assert Store(tmp_path / "s.h5").summary()["elements"]["collection"]["skipped"] == 5


def test_cache_reused_then_invalidated(tmp_path: Path, digits: np.ndarray,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "c"
    _write(root, digits[:10])
    _add_bad_files(root)
    store = tmp_path / "s.h5"
    first = ensure_features(store, Collection.from_folder(root), _backbone(), workers=0)
    calls = []
    real_run = L.run_batches
    monkeypatch.setattr(L, "run_batches", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    again = extract_collection(store, Collection.from_folder(root), _backbone(), workers=0)
    assert again.cached and calls == []
    np.testing.assert_array_equal(again.features.features, first.features)
    # a collection rebuilt from the store's record is the same collection
    rebuilt = Collection.from_record(Store(store).read_collection())
    assert extract_collection(store, rebuilt, _backbone(), workers=0).cached
    # another backbone config is added next to the first, without touching it
    other = extract_collection(store, Collection.from_folder(root), _backbone(size=8))
    assert not other.cached and calls == [1]
    assert len(Store(store).feature_keys()) == 2
    # a changed file invalidates the collection and its features
    Image.fromarray(255 - digits[0]).save(root / "000.png")
    changed = extract_collection(store, Collection.from_folder(root), _backbone(), workers=0)
    assert not changed.cached and Store(store).feature_keys() == [changed.features.key]
    np.testing.assert_allclose(changed.features.features[0], (255 - digits[0]).ravel() / 255)
    # new labels rewrite the collection element
    labels = tmp_path / "l.csv"
    labels.write_text("image,labels\n000.png,zero\n")
    lab = extract_collection(store, Collection.from_folder(root, labels_file=labels),
                             _backbone(), workers=0)
    assert not lab.cached and lab.collection.label_names == ["zero"]
    assert extract_collection(store, Collection.from_folder(root, labels_file=labels),
                              _backbone(), workers=0).cached
    assert not extract_collection(store, Collection.from_folder(root, labels_file=labels),
                                  _backbone(), workers=0, recompute=True).cached


def test_no_readable_image_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.png").write_bytes(b"")
    (root / "b.jpg").write_text("x")
    with pytest.raises(DhrError, match="no readable image"):
        ensure_features(tmp_path / "s.h5", Collection.from_folder(root), _backbone())
    assert not Store(tmp_path / "s.h5").has("collection")


def test_load_features_needs_a_key_when_ambiguous(tmp_path: Path, digits: np.ndarray) -> None:
    root = tmp_path / "c"
    _write(root, digits[:5])
    store = tmp_path / "s.h5"
    with pytest.raises(DhrError):
        load_features(Store.create(store).path)
    for size in (8, 9):
        ensure_features(store, Collection.from_folder(root), _backbone(size=size), workers=0)
    with pytest.raises(DhrError, match="2 feature sets"):
        load_features(store)
    assert load_features(store, _backbone(size=9)).features.shape == (5, 81)


def test_weights_file_enters_the_key(tmp_path: Path) -> None:
    import torch
    import torchvision

    w = tmp_path / "w.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), w)
    k1 = features_key(_backbone("resnet18", weights=str(w)))
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), w)
    assert features_key(_backbone("resnet18", weights=str(w))) != k1


def test_devices() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(DhrError, match="unknown device"):
        resolve_device("tpu")
