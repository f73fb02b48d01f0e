"""Built-in backbones: ``pixels`` and the torchvision CNNs the papers use."""

from __future__ import annotations

from typing import Any

from dhr_plugins.backbones.cnn import CNN_BACKBONES
from dhr_plugins.backbones.pixels import PixelsBackbone
from dhr_sdk import hookimpl


@hookimpl
def register_backbones(register: Any) -> None:
    register(PixelsBackbone)
    for cls in CNN_BACKBONES:
        register(cls)
