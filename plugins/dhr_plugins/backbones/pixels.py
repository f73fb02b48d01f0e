"""The ``pixels`` backbone: resized, flattened, normalised raw pixels (for small images)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from dhr_sdk import Backbone, Params

if TYPE_CHECKING:  # torch and PIL load when the transform or the network runs
    import torch
    from PIL import Image


class PixelTransform:
    """PIL RGB image -> float tensor (channels, size, size), normalised; picklable."""

    def __init__(self, size: int, grayscale: bool, normalise: str) -> None:
        self.size, self.grayscale, self.normalise = size, grayscale, normalise

    def __call__(self, img: Image.Image) -> torch.Tensor:
        import torch
        from PIL import Image

        img = img.convert("L" if self.grayscale else "RGB")
        img = img.resize((self.size, self.size), Image.Resampling.BILINEAR)
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        x = x.view(self.size, self.size, -1).permute(2, 0, 1).float().div_(255.0)
        if self.normalise == "zscore":
            x = (x - x.mean()) / x.std().clamp_min(1e-6)
        elif self.normalise == "l2":
            x = x / x.norm().clamp_min(1e-12)
        return x


class PixelsBackbone(Backbone):
    """Raw pixels as features: resize to ``size``², optional grayscale, flatten, normalise.

    A baseline feature for small images (MNIST-like demo data) that needs no network.
    """

    name: ClassVar[str] = "pixels"
    summary: ClassVar[str] = "resized, flattened, normalised pixels (no network)"

    class Params(Params):
        size: int = Field(28, ge=1, le=1024, description="Images are resized to size × size.")
        grayscale: bool = Field(True, description="Convert to one gray channel (else RGB).")
        normalise: Literal["unit", "zscore", "l2"] = Field(
            "unit", description="'unit': values in [0, 1]; 'zscore': per image zero mean and "
                                "unit variance; 'l2': per image unit Euclidean norm.")

    conformance_params: ClassVar[dict[str, object]] = {"size": 16}

    @property
    def output_dim(self) -> int:
        p = self.params
        return int(p.size * p.size * (1 if p.grayscale else 3))  # type: ignore[attr-defined]

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        p = self.params
        return PixelTransform(p.size, p.grayscale, p.normalise)  # type: ignore[attr-defined]

    def build(self, device: str = "cpu") -> torch.nn.Module:
        import torch

        return torch.nn.Flatten().to(device).eval()
