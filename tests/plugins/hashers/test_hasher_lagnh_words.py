"""LAGNH's label-free visual-word tags (``tag_source="visual-words"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from dhr_plugins.hashers.lagnh import LAGNH
from dhr_plugins.hashers.lagnh.words import (
    GRID,
    SIDE,
    image_patches,
    sparse_word_tags,
    visual_word_tags,
)
from PIL import Image

from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone, FitData, FitImages
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data.loader import ArrayImages
from dhr_sdk.model.hash_model import load_model

FAST: dict[str, Any] = {**LAGNH.conformance_params, "epochs": 3, "tag_source": "visual-words",
                        "visual_words": 12, "words_per_image": 2}


def _images(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Black 28×28 canvases with 1–2 of three shapes at random cells; features = pixels."""
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, 28, 28), dtype=np.uint8)
    for img in imgs:
        for _ in range(rng.integers(1, 3)):
            r, c, kind = rng.integers(0, 4) * 7, rng.integers(0, 4) * 7, rng.integers(0, 3)
            if kind == 0:
                img[r + 1:r + 6, c + 1:c + 6] = 255
            elif kind == 1:
                img[r + 3, c:c + 7] = 255
            else:
                img[r:r + 7, c + 3] = 200
    bb = cast(Backbone, get_registry().create("backbone", "pixels", {}))
    ds = ArrayImages(imgs, bb.transform())
    feats = np.stack([ds[i][0].numpy().ravel() for i in range(n)]).astype(np.float32)
    return feats, imgs


def _data(n: int = 96) -> FitData:
    feats, imgs = _images(n)
    bb = cast(Backbone, get_registry().create("backbone", "pixels", {}))
    return FitData(features=feats, images=FitImages(ArrayImages(imgs, bb.transform()), bb))


def test_patches_come_from_the_image_grid() -> None:
    data = _data(8)
    assert data.images is not None
    p = image_patches(data.images)
    side = SIDE // GRID
    assert p.shape == (8, GRID * GRID, side * side)
    img = data.images.dataset[3][0][0]
    assert torch.allclose(torch.from_numpy(p[3, GRID + 2]),
                          img[side:2 * side, 2 * side:3 * side].reshape(-1))


def test_sparse_tags_keep_top_tf_idf_words_and_drop_ubiquitous_ones() -> None:
    counts = np.array([[10, 1, 0, 2], [12, 0, 3, 0], [14, 1, 1, 0]], dtype=np.float64)
    tags = sparse_word_tags(counts, 2)
    # word 0 is in every image (idf 0): never a tag, however often it occurs
    assert not tags[:, 0].any()
    assert tags.sum(axis=1).tolist() == [2, 1, 2]
    assert tags[0, 1] == 1 and tags[0, 3] == 1 and tags[1, 2] == 1


def test_visual_word_tags_are_sparse_and_deterministic() -> None:
    data = _data()
    assert data.images is not None
    a = visual_word_tags(data.images, 12, 2, seed=0)
    b = visual_word_tags(data.images, 12, 2, seed=0)
    assert np.array_equal(a, b)
    assert a.shape[0] == 96 and a.shape[1] <= 12  # capped at the distinct patches
    assert set(np.unique(a)) <= {0.0, 1.0}
    assert (a.sum(axis=1) <= 2).all() and (a.sum(axis=1) >= 1).all()


def test_lagnh_requests_images_only_for_visual_words_and_auto() -> None:
    assert "images" in LAGNH(**FAST).required_inputs()
    assert "images" in LAGNH(**{**FAST, "tag_source": "auto"}).required_inputs()
    assert "images" not in LAGNH(**{**FAST, "tag_source": "pseudo"}).required_inputs()
    assert "images" not in LAGNH(**{**FAST, "tag_source": "tags"}).required_inputs()
    feats, _ = _images(32)
    with pytest.raises(DhrError, match="needs the training images"):
        LAGNH(**FAST).fit(FitData(features=feats))


def test_auto_uses_both_label_free_sets_when_the_images_are_given() -> None:
    """Without tags, ``auto`` is ``pseudo+visual-words`` with images, ``pseudo`` without;
    with tags it is ``tags`` and the images are not used."""
    data = _data()
    auto = {**FAST, "tag_source": "auto"}
    with_images = LAGNH(**auto).fit(data)
    both = LAGNH(**{**FAST, "tag_source": "pseudo+visual-words"}).fit(data)
    assert with_images.source_ == "pseudo+visual-words"
    assert np.array_equal(with_images.encode(data.features), both.encode(data.features))
    no_images = FitData(features=data.features)
    assert LAGNH(**auto).fit(no_images).source_ == "pseudo"
    tags = np.eye(4, dtype=np.float32)[np.arange(data.features.shape[0]) % 4]
    assert LAGNH(**auto).fit(FitData(features=data.features, tags=tags,
                                     images=data.images)).source_ == "tags"


def test_fit_is_label_free_deterministic_and_sparse() -> None:
    data = _data()

    class NoLabels:
        features, images, tags = data.features, data.images, None

        @property
        def labels(self) -> np.ndarray:
            raise AssertionError("LAGNH read the evaluation labels")

    spied = LAGNH(**FAST).fit(cast(FitData, NoLabels()))
    again = LAGNH(**FAST).fit(data)
    assert spied.source_ == "visual-words" and spied.centres_ is None
    assert np.array_equal(spied.encode(data.features), again.encode(data.features))
    assert (spied.anchors_y_.sum(axis=1) <= FAST["words_per_image"]).all()


def test_encoding_is_batch_independent_and_state_round_trips() -> None:
    data = _data()
    h = LAGNH(**FAST).fit(data)
    full = h.encode(data.features)
    one_by_one = np.concatenate([h.encode(data.features[i:i + 1]) for i in range(10)])
    assert np.array_equal(full[:10], one_by_one)
    state = {k: np.array(v) for k, v in h.get_state().items()}
    assert all(v.dtype != object for v in state.values())
    back = LAGNH(**FAST).set_state(state)
    assert back.source_ == "visual-words"
    assert np.array_equal(back.encode(data.features), full)


def test_cli_fit_gives_lagnh_the_images(tmp_path: Path) -> None:
    """`dhr fit -p tag_source=visual-words` passes the collection's images to LAGNH."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    _, imgs = _images(40)
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    params = [x for k, v in FAST.items() for x in ("-p", f"{k}={v}")]
    res = CliRunner().invoke(cli, ["fit", str(folder), "-o", str(tmp_path / "m.h5"),
                                   "--hasher", "lagnh", "-q", *params])
    assert res.exit_code == 0, res.output
    h = load_model(tmp_path / "m.h5").hasher
    assert isinstance(h, LAGNH) and h.source_ == "visual-words"


def test_pseudo_plus_visual_words_puts_both_tag_sets_side_by_side() -> None:
    """The cluster tag leads and is exact for new images; the word columns are propagated."""
    data = _data()
    params = {**FAST, "tag_source": "pseudo+visual-words"}
    h = LAGNH(**params).fit(data)
    assert "images" in h.required_inputs()
    assert h.source_ == "pseudo+visual-words" and h.centres_ is not None
    n_clusters = h.centres_.shape[0]
    assert (h.anchors_y_[:, :n_clusters].sum(axis=1) == 1).all()  # one pseudo-tag each
    assert (h.anchors_y_[:, n_clusters:].sum(axis=1) <= FAST["words_per_image"]).all()
    assert h.anchors_y_[:, n_clusters:].any()
    full = h.encode(data.features)
    assert np.array_equal(full[:5], np.concatenate([h.encode(data.features[i:i + 1])
                                                    for i in range(5)]))
    back = LAGNH(**params).set_state({k: np.array(v) for k, v in h.get_state().items()})
    assert back.source_ == "pseudo+visual-words"
    assert np.array_equal(back.encode(data.features), full)


def test_partly_known_query_tags_keep_the_known_columns() -> None:
    """AnchorGraph.encode: given leading tag columns are used, the rest propagated."""
    data = _data()
    h = LAGNH(**{**FAST, "tag_source": "pseudo+visual-words"}).fit(data)
    graph = h._anchor_graph()
    x = torch.from_numpy(data.features[:6])
    n_clusters = h.centres_.shape[0]
    all_propagated = graph.encode(x, None, 10)
    known = torch.zeros(6, n_clusters)
    known[:, 0] = 1.0
    partly = graph.encode(x, known, 10)
    s_v = torch.zeros(1)  # recompute the propagated word columns by hand
    from dhr_plugins.hashers.lagnh.net import visual_similarity
    s_v = visual_similarity(graph.query_attention(x), graph.x_att, graph.sigma)
    words = graph.propagated_tags(s_v, 10)[:, n_clusters:]
    by_hand = graph.encode(x, torch.cat([known, words], dim=1), 10)
    assert torch.allclose(partly, by_hand)
    assert not torch.allclose(partly, all_propagated)
