"""The encoder networks of self-supervised backbones (``dhr pretrain``, backbone ``ssl``).

``arch`` is ``"convnet"`` — a small CNN for small images, the default because it trains on
two CPU cores in minutes (four 3×3 conv + BatchNorm + ReLU stages of ``width``, 2·``width``,
4·``width``, 8·``width`` channels, 2×2 max pooling between them, global average pooling:
an 8·``width``-d feature) — or the name of any torchvision model (``resnet18``,
``shufflenet_v2_x0_5``, ...), built without weights and with its classification head
replaced by the identity, so it returns its pooled feature. torchvision models take 3
channels. torch is imported only when a network is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dhr_sdk.core.errors import DhrError

if TYPE_CHECKING:
    import torch

CONVNET = "convnet"


def _convnet(channels: int, width: int) -> torch.nn.Module:
    from torch import nn

    layers: list[nn.Module] = []
    c_in = channels
    for stage in range(4):
        c_out = width * 2 ** stage
        if stage:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU(inplace=True)]
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _torchvision(arch: str) -> torch.nn.Module:
    import torchvision
    from torch import nn

    try:
        model = torchvision.models.get_model(arch, weights=None)
    except (ValueError, KeyError):
        raise DhrError(f"unknown architecture {arch!r}: use {CONVNET!r} or a torchvision "
                       f"model ({', '.join(sorted(torchvision.models.list_models())[:6])}, "
                       "...)") from None
    for head in ("fc", "classifier", "heads", "head"):
        if isinstance(getattr(model, head, None), nn.Module):
            setattr(model, head, nn.Identity())
            return model
    raise DhrError(f"torchvision model {arch!r} has no fc/classifier/head to remove")


def build_encoder(arch: str, channels: int, width: int = 32) -> torch.nn.Module:
    """The encoder named by ``arch`` (module doc), seeded by the caller's torch RNG."""
    if arch == CONVNET:
        return _convnet(channels, width)
    if channels != 3:
        raise DhrError(f"torchvision model {arch!r} takes 3 channels; use -p channels=3")
    return _torchvision(arch)


def feature_dim(encoder: torch.nn.Module, channels: int, image_size: int) -> int:
    """Length of the encoder's output, found by one forward pass in eval mode."""
    import torch

    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        out = encoder(torch.zeros(2, channels, image_size, image_size))
    encoder.train(was_training)
    if out.ndim != 2:
        raise DhrError(f"the encoder returns shape {tuple(out.shape)}, not (batch, features)")
    return int(out.shape[1])


class SSLTransform:
    """PIL image -> float tensor (channels, size, size) in [0, 1]; picklable.

    The one preprocessing of a self-supervised backbone: ``dhr pretrain`` prepares its
    training images with it and the ``ssl`` backbone applies it before the encoder, so
    both see the same pixels.
    """

    def __init__(self, size: int, channels: int) -> None:
        self.size, self.channels = size, channels

    def __call__(self, img: object) -> torch.Tensor:
        import numpy as np
        import torch
        from PIL import Image

        assert isinstance(img, Image.Image)
        img = img.convert("L" if self.channels == 1 else "RGB")
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.Resampling.BILINEAR)
        x = np.asarray(img, dtype=np.float32).reshape(self.size, self.size, -1) / 255.0
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
