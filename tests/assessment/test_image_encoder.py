"""ImageEncoder: the codes of image files equal the collection pipeline's, and the backbone
network is built once per encoder (a resident server reuses it for every request)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dhr_sdk.assessment.targets import ImageEncoder, encode_images
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data.features import features_from_arrays
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import HashModel
from tests.clitools import write_images


def test_encoder_builds_once_and_matches_the_pipeline(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    images = load_demo_arrays("mnist").images[:40]
    bb = get_registry().create("backbone", "pixels", {"size": 16})
    hasher = get_registry().create("hasher", "itq", {"n_bits": 16})
    hasher.fit(_fit_data(features_from_arrays(images, bb)))
    model = HashModel(hasher, "pixels", {"size": 16})
    paths = sorted(write_images(tmp_path / "img", images[:8]).glob("*.png"))
    builds = []
    real = type(bb).build
    monkeypatch.setattr(type(bb), "build", lambda self, device="cpu": (builds.append(1),
                                                                       real(self, device))[1])
    enc = ImageEncoder(model)
    first, second = enc(paths), enc(paths[:3])
    assert len(builds) == 1
    expected = hasher.encode(features_from_arrays(images[:8], bb))
    assert np.array_equal(first, expected) and np.array_equal(second, expected[:3])
    assert np.array_equal(encode_images(model, paths), expected)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DhrError, match=r"bad\.png is unreadable"):
        enc([*paths[:1], tmp_path / "bad.png"])


def _fit_data(features: np.ndarray):  # type: ignore[no-untyped-def]
    from dhr_sdk.core.interfaces import FitData

    return FitData(features=features)
