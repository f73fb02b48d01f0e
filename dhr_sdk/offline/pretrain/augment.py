"""Batched, seeded image augmentations for contrastive pretraining (torch tensors).

Each image of a batch gets its own random resized crop (resampled to ``view_size``, by
default the image's own side), rotation, optional flip (one affine resampling) and
brightness/contrast factors; all random numbers come from one CPU
``torch.Generator``, so a seed gives the same views on every device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dhr_sdk.offline.pretrain.params import PretrainParams

if TYPE_CHECKING:
    import torch


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    import torch

    return torch.rand(n, generator=gen, dtype=torch.float64) * (high - low) + low


def augment(x: torch.Tensor, gen: torch.Generator, p: PretrainParams,
            near: tuple[torch.Tensor, torch.Tensor] | None = None
            ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """A random view of each image of ``x`` (batch, channels, h, w), values in [0, 1]:
    (batch, channels, s, s) with s = ``p.views``, and the crops' centres. Given ``near``
    (the centres of the other view) and ``p.pair_shift``, each crop is centred at most
    ``pair_shift`` of the image's side from it instead of anywhere."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    area = _uniform(gen, n, p.crop_scale, p.crop_max)
    log_ratio = _uniform(gen, n, math.log(3 / 4), math.log(4 / 3))
    w = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)
    h = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
    if near is None or p.pair_shift is None:
        cx = _uniform(gen, n, -1.0, 1.0) * (1 - w)
        cy = _uniform(gen, n, -1.0, 1.0) * (1 - h)
    else:  # coordinates span [-1, 1]: a share s of the side is 2 s
        shift = 2 * p.pair_shift
        cx = torch.maximum(torch.minimum(near[0] + _uniform(gen, n, -shift, shift), 1 - w), w - 1)
        cy = torch.maximum(torch.minimum(near[1] + _uniform(gen, n, -shift, shift), 1 - h), h - 1)
    angle = _uniform(gen, n, -p.rotation, p.rotation) * (math.pi / 180)
    flips = torch.rand(n, generator=gen, dtype=torch.float64)
    sign = torch.where(flips < 0.5, -1.0, 1.0) if p.flip else torch.ones(n, dtype=torch.float64)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([w * cos * sign, -h * sin, cx], 1),
                         torch.stack([w * sin * sign, h * cos, cy], 1)], 1)
    size = [n, x.shape[1], p.views, p.views]
    grid = F.affine_grid(theta.to(x.device, torch.float32), size, align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    contrast = _uniform(gen, n, 1 - p.jitter, 1 + p.jitter).to(x.device, torch.float32)
    bright = _uniform(gen, n, 1 - p.jitter, 1 + p.jitter).to(x.device, torch.float32)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast.view(-1, 1, 1, 1) + mean) * bright.view(-1, 1, 1, 1)
    return out.clamp_(0.0, 1.0), (cx, cy)


def two_views(x: torch.Tensor, gen: torch.Generator, p: PretrainParams) -> torch.Tensor:
    """SimCLR's pair of views of every image of ``x``, stacked (first views, then second
    views; the second near the first with ``p.pair_shift``)."""
    import torch

    first, centres = augment(x, gen, p)
    return torch.cat([first, augment(x, gen, p, near=centres)[0]])
