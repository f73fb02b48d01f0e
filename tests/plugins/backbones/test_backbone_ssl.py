"""The ``ssl`` backbone: loads a ``dhr pretrain`` file, passes the conformance suite, its
features enter the cache under the file's digest, and a model refuses other weights."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from dhr_plugins.backbones.ssl import SSLBackbone

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data.features import features_from_arrays, features_key
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.model.hash_model import HashModel, load_model, save_model
from dhr_sdk.model.ssl_file import read_ssl_file
from dhr_sdk.offline.pretrain import PretrainParams, pretrain
from dhr_sdk.offline.pretrain.images import prepare_images
from dhr_sdk.testing import check_plugin, synthetic_fit_data

TINY = {"image_size": 16, "width": 4, "batch_size": 16, "hidden_dim": 16, "projection_dim": 8,
        "epochs": 1}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ssl") / "backbone.h5"
    x, digest = prepare_images(load_demo_arrays("mnist").images[:32], 16, 1)
    pretrain(x, path, PretrainParams(**TINY), data_digest=digest)
    return path


def _other(weights: Path, tmp_path: Path, seed: int = 1) -> Path:
    out = tmp_path / "other.h5"
    x, digest = prepare_images(load_demo_arrays("mnist").images[:32], 16, 1)
    pretrain(x, out, PretrainParams(**{**TINY, "seed": seed}), data_digest=digest)
    return out


def test_conformance(weights: Path, tmp_path: Path) -> None:
    class Conforming(SSLBackbone):
        conformance_params: ClassVar[dict[str, object]] = {"weights": str(weights)}

    check_plugin(Conforming, tmp_path)


def _expected_features(weights: Path, arch: str, images: np.ndarray) -> np.ndarray:
    """The encoder of ``weights`` rebuilt by hand as ``arch`` on the shared preprocessing."""
    from dhr_sdk.model.ssl_net import build_encoder

    rec = read_ssl_file(weights)
    net = build_encoder(arch, 1, 4)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in rec.encoder.items()})
    x, _ = prepare_images(images, 16, 1)
    with torch.no_grad():
        return net.eval()(x).numpy()


def test_features_are_the_pretrained_encoder_on_the_shared_transform(weights: Path) -> None:
    bb = get_registry().create("backbone", "ssl", {"weights": str(weights)})
    assert bb.output_dim == 32 and read_ssl_file(weights).arch == "convnet-s2"
    images = load_demo_arrays("mnist").images[:5]
    np.testing.assert_allclose(features_from_arrays(images, bb),
                               _expected_features(weights, "convnet-s2", images),
                               rtol=1e-5, atol=1e-6)


def test_max_pooling_takes_each_channels_maximum_and_keys_its_own_cache(weights: Path
                                                                       ) -> None:
    from dhr_sdk.model.ssl_net import build_encoder

    bb = get_registry().create("backbone", "ssl", {"weights": str(weights), "pooling": "max"})
    rec = read_ssl_file(weights)
    net = build_encoder("convnet-s2", 1, 4)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in rec.encoder.items()})
    images = load_demo_arrays("mnist").images[:5]
    x, _ = prepare_images(images, 16, 1)
    with torch.no_grad():
        maps = net.eval()[:-2](x)  # before the global pooling
    np.testing.assert_allclose(features_from_arrays(images, bb), maps.amax(dim=(2, 3)).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert features_key(bb) != features_key(SSLBackbone(weights=str(weights)))


def test_a_full_resolution_convnet_file_still_loads(tmp_path: Path) -> None:
    """Files of the earlier default architecture (``convnet``) keep working."""
    path = tmp_path / "convnet.h5"
    x, digest = prepare_images(load_demo_arrays("mnist").images[:32], 16, 1)
    pretrain(x, path, PretrainParams(**{**TINY, "arch": "convnet"}), data_digest=digest)
    bb = get_registry().create("backbone", "ssl", {"weights": str(path)})
    images = load_demo_arrays("mnist").images[:5]
    np.testing.assert_allclose(features_from_arrays(images, bb),
                               _expected_features(path, "convnet", images),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="state_dict"):  # the two layer lists differ
        _expected_features(path, "convnet-s2", images)


def test_cache_key_follows_the_file_content(weights: Path, tmp_path: Path) -> None:
    copy = tmp_path / "backbone.h5"
    shutil.copy(weights, copy)
    key = features_key(SSLBackbone(weights=str(copy)))
    assert key.startswith("ssl-")
    shutil.copy(_other(weights, tmp_path), copy)  # same name, other weights
    assert features_key(SSLBackbone(weights=str(copy))) != key


def test_a_model_refuses_other_backbone_weights(weights: Path, tmp_path: Path) -> None:
    copy = tmp_path / "backbone.h5"
    shutil.copy(weights, copy)
    hasher = get_registry().create("hasher", "itq", {"n_bits": 8})
    hasher.fit(synthetic_fit_data(n=40, d=32, seed=0))
    save_model(HashModel(hasher, "ssl", {"weights": str(copy)}), tmp_path / "m.h5")
    model = load_model(tmp_path / "m.h5")
    assert model.backbone_params == {"weights": str(copy)}
    assert model.make_backbone().output_dim == 32
    shutil.copy(_other(weights, tmp_path), copy)
    with pytest.raises(DhrError, match=r"^the model was fitted on backbone 'ssl' features "
                                       r"with weights=.* but that file is now sha256") as err:
        load_model(tmp_path / "m.h5").make_backbone()
    assert "\n" not in str(err.value)


def test_missing_or_foreign_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DhrError, match=r"does not exist .*dhr pretrain"):
        _ = SSLBackbone(weights=str(tmp_path / "none.h5")).output_dim
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5["a"] = np.zeros(3)
    with pytest.raises(DhrError, match="is not a dhr backbone file"):
        _ = SSLBackbone(weights=str(tmp_path / "x.h5")).output_dim
