"""The training images of ``dhr pretrain``: collections or arrays -> one float tensor.

Images pass through :class:`~dhr_sdk.model.ssl_net.SSLTransform`, the preprocessing the
``ssl`` backbone applies later, so training and feature extraction see the same pixels.
The data digest is taken over the prepared uint8 pixels (file names and order of the
collections do not enter; the images do).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.progress import QUIET, Progress
from dhr_sdk.model.ssl_file import images_digest
from dhr_sdk.model.ssl_net import SSLTransform

if TYPE_CHECKING:
    import torch


def prepare_images(images: Sequence[object] | np.ndarray, image_size: int,
                   channels: int) -> tuple[torch.Tensor, str]:
    """PIL images or uint8 arrays (n, h, w[, 3]) -> (tensor (n, c, s, s) in [0, 1], digest)."""
    import torch
    from PIL import Image

    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise DhrError(f"expected uint8 images (n, h, w[, 3]), got {images.dtype} "
                           f"{images.shape}")
        pil: Sequence[object] = [Image.fromarray(im) for im in images]
    else:
        pil = images
    if not len(pil):
        raise DhrError("no images to pretrain on")
    tf = SSLTransform(image_size, channels)
    x = torch.stack([tf(im) for im in pil])
    digest = images_digest((x.numpy() * 255).round().astype(np.uint8))
    return x, digest


def collection_images(sources: Sequence[str | Path], progress: Progress = QUIET) -> list[object]:
    """Decoded images of every collection (folder or .txt list); unreadable files are
    skipped and reported."""
    from dhr_sdk.data.collection import open_collection
    from dhr_sdk.data.images import UnreadableImage, load_rgb

    out: list[object] = []
    skipped: list[str] = []
    for src in sources:
        col = open_collection(src)
        for path in progress.iterate(col.paths, total=len(col), desc=f"reading {src}"):
            try:
                out.append(load_rgb(path))
            except UnreadableImage as exc:
                skipped.append(f"{path.name}: {exc}")
    if skipped:
        progress.log(f"skipped {len(skipped)} unreadable file(s): {'; '.join(skipped[:3])}"
                     + (" ..." if len(skipped) > 3 else ""))
    if not out:
        raise DhrError("the collections hold no readable images")
    return out
