"""The encoder networks of self-supervised backbones (``dhr pretrain``, backbone ``ssl``).

``arch`` names the encoder. ``"convnet-s2"`` (the default of ``dhr pretrain``) and
``"convnet"`` are small CNNs for small images: four 3×3 conv + BatchNorm + ReLU stages of
``width``, 2·``width``, 4·``width``, 8·``width`` channels and global average pooling, an
8·``width``-d feature. ``convnet`` runs its first stage at full resolution with 2×2 max
pooling before each later stage (28² → 28, 14, 7, 3); ``convnet-s2`` gives the first
convolution stride 2 and pools before stages 2 and 3 only (28² → 14, 7, 3, 3), so the
widest activations are a quarter the size: about a third of the CPU time per step at 28²
for the same weight shapes and feature (``benchmarks/pretrain_speed.py``). Any other
``arch`` is the name of a torchvision model (``resnet18``, ``shufflenet_v2_x0_5``, ...),
built without weights and with its classification head replaced by the identity, so it
returns its pooled feature; torchvision models take 3 channels. torch is imported only
when a network is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dhr_sdk.core.errors import DhrError

if TYPE_CHECKING:
    import torch

CONVNET = "convnet"
CONVNET_S2 = "convnet-s2"


def _convnet(channels: int, width: int, stem_stride: int = 1) -> torch.nn.Module:
    """``convnet`` (``stem_stride`` 1) or ``convnet-s2`` (2): module doc."""
    from torch import nn

    layers: list[nn.Module] = []
    c_in = channels
    for stage in range(4):
        c_out = width * 2 ** stage
        if stage and (stem_stride == 1 or stage < 3):
            layers.append(nn.MaxPool2d(2))
        stride = stem_stride if stage == 0 else 1
        layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
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
    if arch in (CONVNET, CONVNET_S2):
        return _convnet(channels, width, 2 if arch == CONVNET_S2 else 1)
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
