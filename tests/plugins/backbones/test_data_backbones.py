"""Backbone plugins: the papers' feature layers, weight loading, offline behaviour."""

from __future__ import annotations

import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from dhr_sdk.core.errors import DhrError, ParamsError
from dhr_sdk.core.registry import get_registry

CNNS = {"resnet18": 512, "resnet50": 2048, "resnet101": 2048, "vgg16": 4096,
        "googlenet": 1024, "inception_v3": 2048}


def _make(name: str, **params: object):  # type: ignore[no-untyped-def]
    return get_registry().create("backbone", name, params)


def test_all_backbones_registered_with_dims() -> None:
    names = set(get_registry().names("backbone"))
    assert {"pixels", *CNNS} <= names
    for name, dim in CNNS.items():
        assert _make(name, weights="none").output_dim == dim
    assert _make("pixels", size=10, grayscale=False).output_dim == 300


def _x(size: int) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_resnet_pooled_feature_matches_manual_forward() -> None:
    bb = _make("resnet18", weights="none", seed=5)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        ref = torchvision.models.resnet18(weights=None).eval()
    trunk = torch.nn.Sequential(*list(ref.children())[:-1])  # up to avgpool
    with torch.no_grad():
        np.testing.assert_allclose(bb.build()(_x(64)).numpy(),
                                   trunk(_x(64)).flatten(1).numpy(), rtol=1e-5, atol=1e-6)
        conv5 = torch.nn.Sequential(*list(ref.children())[:-2])(_x(64))
        gmp = _make("resnet18", weights="none", seed=5, pooling="max").build()(_x(64))
        np.testing.assert_allclose(gmp.numpy(), conv5.amax(dim=(2, 3)).numpy(), rtol=1e-5)


def test_vgg16_is_fc7_after_relu() -> None:
    bb = _make("vgg16", weights="none", seed=1)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        ref = torchvision.models.vgg16(weights=None).eval()
    with torch.no_grad():
        h = torch.flatten(ref.avgpool(ref.features(_x(32))), 1)
        fc7 = torch.relu(ref.classifier[3](torch.relu(ref.classifier[0](h))))
        out = bb.build()(_x(32))
    assert out.shape == (2, 4096) and (out >= 0).all()
    np.testing.assert_allclose(out.numpy(), fc7.numpy(), rtol=1e-4, atol=1e-6)


def test_seeded_random_init_is_deterministic() -> None:
    a = _make("googlenet", weights="none", seed=3).build()
    b = _make("googlenet", weights="none", seed=3).build()
    c = _make("googlenet", weights="none", seed=4).build()
    with torch.no_grad():
        assert torch.equal(a(_x(64)), b(_x(64))) and not torch.equal(a(_x(64)), c(_x(64)))


def test_local_weights_file(tmp_path: Path) -> None:
    src = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).eval()
    path = tmp_path / "googlenet.pth"
    torch.save({"state_dict": src.state_dict()}, path)  # wrapped, with aux heads
    net = _make("googlenet", weights=str(path)).build()
    src.fc = torch.nn.Identity()
    src.transform_input = True
    with torch.no_grad():
        np.testing.assert_allclose(net(_x(64)).numpy(), src(_x(64)).numpy(), rtol=1e-5)
    with pytest.raises(DhrError, match="does not fit resnet18"):
        _make("resnet18", weights=str(path)).build()
    (tmp_path / "junk.pth").write_bytes(b"garbage")
    with pytest.raises(DhrError, match="cannot read weights file"):
        _make("resnet18", weights=str(tmp_path / "junk.pth")).build()
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # a pickled module, refused
    with pytest.raises(DhrError, match="cannot read weights file"):
        _make("resnet18", weights=str(tmp_path / "module.pth")).build()
    with pytest.raises(DhrError, match="does not exist"):
        _make("resnet18", weights=str(tmp_path / "missing.pth")).build()


def test_imagenet_without_internet_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline,
                        raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: "/nonexistent-dhr-hub")
    with pytest.raises(DhrError) as info:
        _make("resnet50").build()
    msg = str(info.value)
    assert "\n" not in msg and "resnet50" in msg and "weights=none" in msg and ".pth" in msg


@pytest.mark.parametrize("size", [32, 64, 224])
def test_imagenet_transform_equals_torchvision_chain(size: int) -> None:
    from torchvision import transforms as T

    ref = T.Compose([T.Resize((size, size), antialias=True), T.ToTensor(),
                     T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    ours = _make("resnet18", weights="none", image_size=size).transform()
    rng = np.random.default_rng(size)
    for shape in [(28, 28, 3), (300, 410, 3), (size, size, 3)]:
        img = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8))
        torch.testing.assert_close(ours(img), ref(img), rtol=0, atol=1e-5)
    gray = Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8))
    torch.testing.assert_close(ours(gray), ref(gray.convert("RGB")), rtol=0, atol=1e-5)


def test_params_validation_and_picklable_transforms() -> None:
    with pytest.raises(ParamsError):
        _make("resnet18", image_size=8)
    with pytest.raises(ParamsError):
        _make("inception_v3", image_size=64)
    with pytest.raises(ParamsError):
        _make("pixels", normalise="minmax")
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), np.uint8))
    for name in ("pixels", "resnet18"):
        t = pickle.loads(pickle.dumps(_make(name, weights="none").transform()
                                      if name != "pixels" else _make(name).transform()))
        assert torch.isfinite(t(img)).all()
    x = _make("pixels", size=8, normalise="l2").transform()(img)
    assert x.shape == (1, 8, 8) and abs(float(x.norm()) - 1) < 1e-5
