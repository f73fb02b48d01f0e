"""The ``ssl`` backbone: an encoder pretrained by ``dhr pretrain`` on the dark data itself.

``-p weights=backbone.h5`` names the file; the architecture (``convnet-s2``, ``convnet`` or
any torchvision model), image size and channels come from it. The feature is the
encoder's pooled output (the projection head of the contrastive loss is not kept):
``pooling=avg`` (default) averages the last feature map, as in training; ``pooling=max`` takes
each channel's maximum instead, a pattern's presence anywhere in the image, which suits
images holding several objects (pretrain them with small ``crop_max`` and ``view_size``:
docs/data.md). The feature cache key and a hash model both include the
file's content digest: features of another pretraining never mix with these.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from dhr_sdk import Backbone, DhrError, Params, SSLBackboneFile, SSLTransform, read_ssl_file

if TYPE_CHECKING:
    import torch
    from PIL import Image


class SSLBackbone(Backbone):
    """Pooled features of a self-supervised encoder read from a ``dhr pretrain`` file."""

    name: ClassVar[str] = "ssl"
    summary: ClassVar[str] = "encoder pretrained by 'dhr pretrain' (SimCLR) on your images"

    class Params(Params):
        weights: str = Field("backbone.h5", description="Backbone file written by 'dhr "
                             "pretrain' (architecture, image size and weights inside).")
        pooling: Literal["avg", "max"] = Field(
            "avg", description="Global pooling of the last feature map: avg (as trained) or "
            "max (a pattern anywhere: several objects per image).")

    @cached_property
    def file(self) -> SSLBackboneFile:
        """The backbone file, read once."""
        rec = read_ssl_file(str(self.params.weights))  # type: ignore[attr-defined]
        if rec.epochs_done == 0:
            raise DhrError(f"{self.params.weights} holds no trained epoch")  # type: ignore[attr-defined]
        return rec

    @property
    def output_dim(self) -> int:
        return self.file.feature_dim

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        return SSLTransform(self.file.image_size, self.file.channels)

    def build(self, device: str = "cpu") -> torch.nn.Module:
        import torch

        from dhr_sdk import build_encoder

        rec = self.file
        with torch.random.fork_rng(devices=[]):
            net = build_encoder(rec.arch, rec.channels, int(rec.params.get("width", 32)))
        try:
            net.load_state_dict({k: torch.from_numpy(np.array(v))
                                 for k, v in rec.encoder.items()}, strict=True)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:300]
            raise DhrError(f"{self.params.weights}: the weights do not fit {rec.arch!r}: "  # type: ignore[attr-defined]
                           f"{detail}") from None
        if self.params.pooling == "max":  # type: ignore[attr-defined]
            _max_pooled(net, str(self.params.weights))  # type: ignore[attr-defined]
        return net.to(device).eval()


def _max_pooled(net: torch.nn.Module, weights: str) -> None:
    """Replace the encoder's global average pooling by global max pooling, in place."""
    from torch import nn

    for parent in net.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.AdaptiveAvgPool2d):
                setattr(parent, name, nn.AdaptiveMaxPool2d(child.output_size))
                return
    raise DhrError(f"{weights}: the encoder has no global average pooling to make max "
                   "pooling (use pooling=avg)")
