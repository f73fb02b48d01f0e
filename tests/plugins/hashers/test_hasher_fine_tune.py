"""Stage 2 end to end (NRDH, DSTGeH ``fine_tune``): the backbone CNN is trained with the
head on the images, the model carries the new weights and encodes through them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from dhr_plugins.hashers.dstgeh import DSTGeHHasher
from dhr_plugins.hashers.nrdh import NRDHHasher
from PIL import Image

from dhr_sdk.assessment.targets import encode_images
from dhr_sdk.cli.main import cli
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import FitData
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.finetuned import FineTunedBackbone
from dhr_sdk.model.hash_model import load_model
from dhr_sdk.offline.pipeline import encode, fit
from dhr_sdk.store import Store
from tests.plugintools import backbone, hasher

CNN = {"weights": "none", "image_size": 32}
FAST: dict[str, dict[str, Any]] = {
    "nrdh": {"n_bits": 16, "gcn_epochs": 2, "head_epochs": 2, "fine_tune": True,
             "fine_tune_epochs": 2, "fine_tune_batch_size": 8, "tol": 0.0},
    "dstgeh": {"n_bits": 16, "sae_hidden": (16,), "pretrain_epochs": 1, "sae_epochs": 2,
               "head_epochs": 2, "fine_tune": True, "fine_tune_epochs": 2,
               "fine_tune_batch_size": 8, "tol": 0.0},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = load_demo_arrays("animal-mnist")
    out = tmp_path_factory.mktemp("finetune") / "images"
    out.mkdir()
    for i in np.random.default_rng(0).permutation(len(d))[:36]:
        Image.fromarray(d.images[i]).save(out / f"{i:05d}.png")
    return out


def test_fine_tune_asks_for_images_and_refuses_without_them() -> None:
    assert "images" not in NRDHHasher(n_bits=16).required_inputs()
    h = NRDHHasher(**FAST["nrdh"])
    assert "images" in h.required_inputs()
    x = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    with pytest.raises(DhrError, match="needs the images"):
        h.fit(FitData(features=x))


def test_pixels_backbone_has_nothing_to_fine_tune(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(DhrError, match="no trainable weights"):
        fit([folder], tmp_path / "m.h5", hasher("nrdh", **FAST["nrdh"]), backbone())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nrdh", "dstgeh"])
def test_fine_tuned_model_encodes_through_its_backbone(name: str, folder: Path,
                                                       tmp_path: Path) -> None:
    model = fit([folder], tmp_path / "m.h5", hasher(name, **FAST[name]),
                backbone("resnet18", **CNN))
    state = model.hasher.backbone_state()
    assert state is not None
    history = model.hasher.get_state()
    assert history["history/fine_tune"].shape == (2,)
    # the weights moved away from the backbone plugin's own initialisation
    plugin = backbone("resnet18", **CNN)
    initial = plugin.build().state_dict()
    assert state.keys() == initial.keys()
    moved = [k for k, v in initial.items() if v.is_floating_point()
             and not np.allclose(v.numpy(), state[k])]
    assert any(k.startswith("conv1") for k in moved) and any("fc" not in k for k in moved)

    # the model file carries the weights; encoding uses them, cached under their own key
    loaded = load_model(tmp_path / "m.h5")
    assert {k: v.tobytes() for k, v in (loaded.hasher.backbone_state() or {}).items()} == \
        {k: v.tobytes() for k, v in state.items()}
    bb = loaded.make_backbone()
    assert isinstance(bb, FineTunedBackbone)
    rec = encode(folder, tmp_path / "m.h5", tmp_path / "s.h5")
    store = Store(tmp_path / "s.h5")
    (key,) = store.feature_keys()
    assert key.startswith("resnet18-ft-")
    feats = store.read_features(key).features
    assert np.array_equal(loaded.hasher.encode(feats), rec.codes)
    frozen = Store(tmp_path / "m.h5").read_features(Store(tmp_path / "m.h5").feature_keys()[0])
    assert frozen.key != key and not np.allclose(frozen.features, feats)
    # on-line requirement images go through the same fine-tuned network
    paths = sorted(folder.glob("*.png"))[:5]
    assert np.array_equal(encode_images(loaded, paths), rec.codes[:5])


@pytest.mark.slow
def test_fine_tuning_is_seeded(folder: Path, tmp_path: Path) -> None:
    runs = [fit([folder], tmp_path / f"m{i}.h5", hasher("nrdh", **FAST["nrdh"], seed=i // 2),
                backbone("resnet18", **CNN)) for i in range(3)]
    states = [r.hasher.backbone_state() or {} for r in runs]
    assert all(np.array_equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(np.array_equal(states[0][k], states[2][k]) for k in states[0])


@pytest.mark.slow
def test_state_and_params_must_agree(folder: Path, tmp_path: Path) -> None:
    model = fit([folder], tmp_path / "m.h5", hasher("dstgeh", **FAST["dstgeh"]),
                backbone("resnet18", **CNN))
    frozen = DSTGeHHasher(**{**FAST["dstgeh"], "fine_tune": False})
    with pytest.raises(DhrError, match="has fine-tuned backbone weights"):
        frozen.set_state(model.hasher.get_state())
    # a fine-tuned model whose backbone params changed no longer fits its weights
    broken = FineTunedBackbone(backbone("resnet18", **{**CNN, "pooling": "max"}),
                               model.hasher.backbone_state() or {})
    assert broken.build() is not None  # pooling has no weights: same state dict fits
    wrong = FineTunedBackbone(backbone("resnet50", **CNN),
                              model.hasher.backbone_state() or {})
    with pytest.raises(DhrError, match="do not fit backbone 'resnet50'"):
        wrong.build()


@pytest.mark.slow
def test_cli_fit_fine_tune_then_encode(folder: Path, tmp_path: Path) -> None:
    args = ["fit", str(folder), "-o", str(tmp_path / "m.h5"), "--hasher", "nrdh",
            "--backbone", "resnet18", "-p", "backbone.weights=none",
            "-p", "backbone.image_size=32", "--json", "-q"]
    for key, value in FAST["nrdh"].items():
        args += ["-p", f"{key}={str(value).lower()}"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["params"]["fine_tune"] is True
    res = CliRunner().invoke(cli, ["encode", str(folder), "--model", str(tmp_path / "m.h5"),
                                   "-o", str(tmp_path / "s.h5"), "--json", "-q"])
    assert res.exit_code == 0, res.output
    assert Store(tmp_path / "s.h5").feature_keys()[0].startswith("resnet18-ft-")


@pytest.mark.slow
def test_evaluation_fits_on_images_and_encodes_through_the_fine_tuned_backbone() -> None:
    from dhr_sdk.core.progress import QUIET
    from dhr_sdk.data.features import features_from_arrays
    from dhr_sdk.data.loader import ArrayImages
    from dhr_sdk.evaluation.data import LabeledFeatures
    from dhr_sdk.evaluation.protocol import evaluate_hasher, make_hasher, model_features
    from dhr_sdk.evaluation.split import SplitSpec, split_indices

    d = load_demo_arrays("animal-mnist")
    images = d.images[:48]
    bb = backbone("resnet18", **CNN)
    data = LabeledFeatures("tiny", features_from_arrays(images, bb), d.labels[:48],
                           tuple(d.class_names), "resnet18", CNN,
                           image_dataset=ArrayImages(images, bb.transform()))
    split = split_indices(48, SplitSpec(n_queries=8, n_train=32))
    params = {k: v for k, v in FAST["nrdh"].items() if k != "n_bits"}
    hasher = make_hasher("nrdh", 16, params)
    res = evaluate_hasher(hasher, data, split)
    assert res.error is None and res.metrics is not None
    assert "images" in res.info["requires"]
    assert res.info["model"]["state_groups"]["backbone"] > 0
    # the database is encoded from the fine-tuned network's features, not the stored ones
    tuned = FineTunedBackbone(bb, hasher.backbone_state() or {})
    db = features_from_arrays(images[split.database], tuned)
    assert np.allclose(model_features(hasher, data, split.database, QUIET), db, atol=1e-5)
    assert not np.allclose(db, data.features[split.database])
    assert res.distinct_codes == len(np.unique(hasher.encode(db), axis=0))
    without = LabeledFeatures("tiny", data.features, data.labels, data.class_names,
                              "resnet18", CNN)
    with pytest.raises(DhrError, match="needs the images"):
        evaluate_hasher(make_hasher("nrdh", 16, params), without, split)
