"""The torch side of feature extraction: datasets over files or arrays, and the batched
DataLoader forward. Imported lazily by :mod:`dhr_sdk.data.features`, so that importing the
SDK (and starting the ``dhr`` command line) does not pay for importing torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from dhr_sdk.core.device import resolve_device
from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.interfaces import Backbone
from dhr_sdk.core.progress import Progress
from dhr_sdk.data.images import UnreadableImage, load_rgb, pixel_limit

Transform = Callable[[Image.Image], torch.Tensor]


class FileImages(Dataset[tuple[torch.Tensor, int, str]]):
    """Decodes one file per item; failures become a blank tensor plus the reason.

    ``max_pixels`` (default: ``$DHR_MAX_IMAGE_PIXELS`` or 50 megapixels, see
    :func:`~dhr_sdk.data.images.pixel_limit`) is resolved here, in the main process, so a
    bad setting is one error before any worker starts."""

    def __init__(self, paths: Sequence[str], transform: Transform,
                 max_pixels: int | None = None) -> None:
        self.paths, self.transform = list(paths), transform
        self.max_pixels = pixel_limit(max_pixels)
        self.blank = torch.zeros_like(transform(Image.new("RGB", (32, 32))))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        try:
            return self.transform(load_rgb(self.paths[i], self.max_pixels)), i, ""
        except UnreadableImage as exc:
            return self.blank, i, str(exc)


class ArrayImages(Dataset[tuple[torch.Tensor, int, str]]):
    """In-memory uint8 images (n, h, w) or (n, h, w, 3) through the backbone's transform."""

    def __init__(self, images: np.ndarray, transform: Transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        return self.transform(Image.fromarray(self.images[i]).convert("RGB")), i, ""


class DecodedImages(Dataset[tuple[torch.Tensor, int, str]]):
    """Images already decoded to RGB (e.g. uploads checked by :func:`load_rgb`) through the
    backbone's transform."""

    def __init__(self, images: Sequence[Image.Image], transform: Transform) -> None:
        self.images, self.transform = list(images), transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        return self.transform(self.images[i]), i, ""


class RowSubset(Dataset[tuple[torch.Tensor, int, str]]):
    """Items ``rows`` of an image dataset, renumbered ``0..len(rows)-1`` (its row index)."""

    def __init__(self, dataset: Dataset[tuple[torch.Tensor, int, str]], rows: np.ndarray) -> None:
        self.dataset, self.rows = dataset, np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        x, _, reason = self.dataset[int(self.rows[i])]
        return x, i, reason


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def run_batches(dataset: Dataset[Any], n: int, backbone: Backbone, *, batch_size: int, workers: int,
         device: str, progress: Progress, net: torch.nn.Module | None = None
         ) -> tuple[np.ndarray, dict[int, str]]:
    """Forward every item; returns features (n, d) and {row: reason} for failed items.
    ``net`` is ``backbone.build(device)`` already built (a resident server keeps one)."""
    if batch_size < 1 or workers < 0:
        raise DhrError("batch size must be >= 1 and workers >= 0")
    device = resolve_device(device)
    if n <= batch_size:
        workers = 0  # one batch: starting worker processes costs more than it saves
    net = backbone.build(device) if net is None else net
    out = np.zeros((n, backbone.output_dim), dtype=np.float32)
    failed: dict[int, str] = {}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        worker_init_fn=_worker_init if workers else None,
                        pin_memory=device.startswith("cuda"))
    with progress.bar(total=n, desc=f"features {backbone.name}", unit="img") as bar, \
            torch.inference_mode():
        for x, idx, reasons in loader:
            rows = idx.numpy()
            y = net(x.to(device, non_blocking=True))
            out[rows] = y.reshape(len(rows), -1).float().cpu().numpy()
            failed.update({int(r): s for r, s in zip(rows, reasons, strict=True) if s})
            bar.update(len(rows))
    return out, failed
