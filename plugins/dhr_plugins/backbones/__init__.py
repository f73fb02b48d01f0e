"""Built-in backbones: ``pixels``, the torchvision CNNs the papers use, and ``ssl`` (an
encoder pretrained by ``dhr pretrain``)."""

from __future__ import annotations

from typing import Any

from dhr_plugins.backbones.cnn import CNN_BACKBONES
from dhr_plugins.backbones.pixels import PixelsBackbone
from dhr_plugins.backbones.ssl import SSLBackbone
from dhr_sdk import hookimpl


@hookimpl
def register_backbones(register: Any) -> None:
    register(PixelsBackbone)
    register(SSLBackbone)
    for cls in CNN_BACKBONES:
        register(cls)
