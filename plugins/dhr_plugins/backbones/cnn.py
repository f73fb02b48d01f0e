"""ImageNet CNN backbones from torchvision, returning the pooled feature the papers use.

- ResNet-18/50/101: the last pooling layer (512/2048-d; NRDH "last pooling layer",
  DSTGeH's ResNet-18). GAH (framework paper §4.2) takes ResNet-101 conv5_x at 448² with
  global *max* pooling: ``-p image_size=448 -p pooling=max``.
- VGG16: fc7 after its ReLU (4096-d), as in LAGNH.
- GoogLeNet (Inception v1, 1024-d) and Inception-v3 (2048-d): DSTGeH uses Inception-v4,
  which torchvision does not ship; these are the closest available, a documented deviation.

Weights (``weights`` param): ``"imagenet"`` loads torchvision's ``IMAGENET1K_V1`` enum
(downloaded once into the torch hub cache; offline without a cached copy this is a clear
error), ``"none"`` is a seeded random initialisation, anything else is a local weights file
(a torchvision state dict) loaded with ``torch.load(..., weights_only=True)``.
Preprocessing is part of the backbone: resize to ``image_size``² (no crop, so the whole
image is kept), ImageNet mean/std normalisation.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from dhr_sdk import Backbone, DhrError, Params

if TYPE_CHECKING:  # torch, torchvision and PIL load when a network is built or run
    import torch
    from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_HELP = ("'imagenet' (torchvision IMAGENET1K_V1 weights, downloaded once to the torch "
                "hub cache), 'none' (random initialisation from seed), or the path of a local "
                "weights file (a state dict, loaded with torch.load(weights_only=True))")


class CnnParams(Params):
    weights: str = Field("imagenet", description=WEIGHTS_HELP)
    image_size: int = Field(224, ge=32, le=1024,
                            description="Images are resized to image_size × image_size.")
    seed: int = Field(0, description="Seed of the random initialisation (weights='none').")


class ResNetParams(CnnParams):
    pooling: Literal["avg", "max"] = Field(
        "avg", description="Global pooling of the last conv block: 'avg' (torchvision, NRDH) "
                           "or 'max' (GAH, framework paper §4.2).")


class InceptionParams(CnnParams):
    image_size: int = Field(299, ge=75, le=1024,
                            description="Images are resized to image_size × image_size "
                                        "(Inception-v3 needs at least 75).")


class ImageNetTransform:
    """PIL RGB image -> normalised float tensor (3, size, size); picklable.

    Same values as ``Resize((size, size)) + ToTensor() + Normalize(mean, std)`` on a PIL
    image (PIL bilinear resize), computed in one NumPy pass: the torchvision chain costs
    about as much as a ResNet-18 forward on small images.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.shift = np.array(IMAGENET_MEAN, dtype=np.float32) * 255.0
        self.scale = 1.0 / (np.array(IMAGENET_STD, dtype=np.float32) * 255.0)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        import torch
        from PIL import Image

        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.Resampling.BILINEAR)
        x = (np.asarray(img, dtype=np.float32) - self.shift) * self.scale
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    import torch

    if not path.is_file():
        raise DhrError(f"weights file {path} does not exist (weights: {WEIGHTS_HELP})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DhrError(f"cannot read weights file {path} as a state dict: "
                       f"{str(exc).splitlines()[0]}") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise DhrError(f"weights file {path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


class TorchvisionBackbone(Backbone):
    """Common loading, preprocessing and head surgery of the torchvision CNNs."""

    arch: ClassVar[str]
    enum: ClassVar[str]
    dim: ClassVar[int]
    build_kwargs: ClassVar[dict[str, Any]] = {}
    drop_prefixes: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[Params]] = CnnParams
    conformance_params: ClassVar[dict[str, object]] = {"weights": "none", "image_size": 64}

    @property
    def output_dim(self) -> int:
        return self.dim

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        return ImageNetTransform(int(self.params.image_size))  # type: ignore[attr-defined]

    def _download(self) -> torch.nn.Module:
        import torchvision

        enum = getattr(torchvision.models, self.enum).IMAGENET1K_V1
        try:
            return getattr(torchvision.models, self.arch)(weights=enum, progress=False)
        except (urllib.error.URLError, OSError, RuntimeError) as exc:
            raise DhrError(
                f"cannot get ImageNet weights for {self.name} ({type(exc).__name__}; no "
                f"internet?): download {enum.url} on a connected machine and pass "
                f"-p weights=/path/to/{enum.url.rsplit('/', 1)[-1]}, or use -p weights=none"
            ) from None

    def _model(self) -> torch.nn.Module:
        import torch
        import torchvision

        weights = str(self.params.weights)  # type: ignore[attr-defined]
        if weights == "imagenet":
            return self._download()
        kwargs = dict(self.build_kwargs)
        if weights != "none" and "transform_input" in kwargs:
            kwargs["transform_input"] = True  # as torchvision does for its trained weights
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.params.seed))  # type: ignore[attr-defined]
            model = getattr(torchvision.models, self.arch)(weights=None, **kwargs)
        if weights != "none":
            path = Path(weights).expanduser()
            state = {k: v for k, v in _read_state(path).items()
                     if not k.startswith(self.drop_prefixes)}
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                detail = " ".join(str(exc).split())[:300]
                raise DhrError(f"weights file {path} does not fit {self.name}: {detail}") from None
        return model

    def _head(self, model: torch.nn.Module) -> torch.nn.Module:
        import torch

        model.fc = torch.nn.Identity()
        return model

    def build(self, device: str = "cpu") -> torch.nn.Module:
        size = int(self.params.image_size)  # type: ignore[attr-defined]
        if size < 32:
            raise DhrError(f"{self.name}: image_size must be at least 32")
        return self._head(self._model()).to(device).eval()


class _ResNet(TorchvisionBackbone):
    Params = ResNetParams

    def _head(self, model: torch.nn.Module) -> torch.nn.Module:
        import torch

        if self.params.pooling == "max":  # type: ignore[attr-defined]
            model.avgpool = torch.nn.AdaptiveMaxPool2d(1)
        return super()._head(model)


class ResNet18(_ResNet):
    """ResNet-18 pooled features (512-d); DSTGeH's hash network backbone."""

    name, arch, enum, dim = "resnet18", "resnet18", "ResNet18_Weights", 512
    summary = "ResNet-18, last pooling layer (512-d)"


class ResNet50(_ResNet):
    """ResNet-50 pooled features (2048-d)."""

    name, arch, enum, dim = "resnet50", "resnet50", "ResNet50_Weights", 2048
    summary = "ResNet-50, last pooling layer (2048-d)"


class ResNet101(_ResNet):
    """ResNet-101 pooled features (2048-d); NRDH (avg) and GAH (448², max pooling)."""

    name, arch, enum, dim = "resnet101", "resnet101", "ResNet101_Weights", 2048
    summary = "ResNet-101, last pooling layer (2048-d); GAH: image_size=448 pooling=max"


class VGG16(TorchvisionBackbone):
    """VGG16 fc7 features after ReLU (4096-d), LAGNH's image feature."""

    name, arch, enum, dim = "vgg16", "vgg16", "VGG16_Weights", 4096
    summary = "VGG16 fc7 after ReLU (4096-d)"

    def _head(self, model: torch.nn.Module) -> torch.nn.Module:
        import torch

        classifier = model.classifier
        assert isinstance(classifier, torch.nn.Sequential)
        model.classifier = classifier[:5]  # fc6, relu6, drop6, fc7, relu7
        return model


class GoogLeNet(TorchvisionBackbone):
    """GoogLeNet (Inception v1) pooled features (1024-d); stand-in for DSTGeH's Inception-v4."""

    name, arch, enum, dim = "googlenet", "googlenet", "GoogLeNet_Weights", 1024
    summary = "GoogLeNet / Inception v1, pooled (1024-d)"
    build_kwargs: ClassVar[dict[str, Any]] = {"aux_logits": False, "init_weights": True,
                                              "transform_input": False}
    drop_prefixes = ("aux1.", "aux2.")


class InceptionV3(TorchvisionBackbone):
    """Inception-v3 pooled features (2048-d) at 299²; stand-in for Inception-v4."""

    name, arch, enum, dim = "inception_v3", "inception_v3", "Inception_V3_Weights", 2048
    summary = "Inception-v3, pooled (2048-d, 299² input)"
    Params = InceptionParams
    conformance_params: ClassVar[dict[str, object]] = {"weights": "none", "image_size": 80}
    build_kwargs: ClassVar[dict[str, Any]] = {"aux_logits": False, "init_weights": True,
                                              "transform_input": False}
    drop_prefixes = ("AuxLogits.",)


CNN_BACKBONES: tuple[type[TorchvisionBackbone], ...] = (
    ResNet18, ResNet50, ResNet101, VGG16, GoogLeNet, InceptionV3)
