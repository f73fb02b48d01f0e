"""Decoding image files, with an explicit reason whenever a file cannot be used.

Every decoder of the SDK goes through :func:`load_rgb`: the pixel limit is checked from the
header before any pixel is decoded, the EXIF orientation is applied (as image viewers do),
and 16-bit images are scaled to 8 bits (not clipped).
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from dhr_sdk.core.errors import DhrError

if TYPE_CHECKING:  # PIL loads with the first decoded image (start-up, docs/cli.md)
    from PIL import Image

#: File name endings treated as images when listing a folder (case-insensitive).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

#: Default of the most pixels (width × height) an image may have to be decoded.
MAX_PIXELS = 50_000_000
#: Environment variable overriding :data:`MAX_PIXELS` (a positive integer).
MAX_PIXELS_ENV = "DHR_MAX_IMAGE_PIXELS"


class UnreadableImage(Exception):
    """A file that cannot be decoded to an image; ``str(exc)`` is the reason."""


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def pixel_limit(value: int | None = None) -> int:
    """The pixel limit per image: ``value``, else ``$DHR_MAX_IMAGE_PIXELS``, else
    :data:`MAX_PIXELS`; anything but a positive whole number is a one-line error."""
    raw = str(value) if value is not None else os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return MAX_PIXELS
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise DhrError(f"the image pixel limit ({MAX_PIXELS_ENV} or max_pixels) must be a "
                       f"positive whole number of pixels, got {raw!r}")
    return limit


def _is_empty(source: str | os.PathLike[str] | BinaryIO) -> bool:
    try:
        if hasattr(source, "seek"):
            return source.seek(0, os.SEEK_END) == 0
        return os.stat(source).st_size == 0
    except OSError:
        return False


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with 8 bits per channel. 16-bit grayscale (``I;16*``, and ``I``, whose values are
    taken as 16-bit) is scaled by 255/65535 and rounded, where Pillow's own conversion clips
    every value above 255 to white. 48-bit RGB and 16-bit gray/RGB with alpha already open
    as 8-bit RGB/RGBA (Pillow keeps the high byte)."""
    from PIL import Image

    if img.mode == "I" or img.mode.startswith("I;16"):
        wide = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
        img = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), mode="L")
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike[str] | BinaryIO, max_pixels: int | None = None,
             name: str | None = None) -> Image.Image:
    """Fully decode ``path`` (a file, or an open binary file such as an upload, named
    ``name`` in messages) to an 8-bit RGB image in viewer orientation, or raise
    :class:`UnreadableImage`.

    An image of more than ``max_pixels`` pixels (:func:`pixel_limit`) is refused from its
    header, before decoding, with a reason naming the file. The whole file is decoded
    (``Image.load``), so truncated files fail here and not later; truncated data is never
    silently padded. The EXIF orientation, when present, is applied.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = pixel_limit(max_pixels)
    if name is None:
        name = "upload" if hasattr(path, "read") else os.path.basename(os.fspath(path))
    try:
        with warnings.catch_warnings():
            # The limit below replaces Pillow's warning, which does not name the file.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            width, height = img.size
            if width * height > limit:
                raise UnreadableImage(
                    f"too large to decode safely: {name} is {width}x{height} pixels "
                    f"({width * height / 1e6:.1f} megapixels), over the limit of "
                    f"{limit / 1e6:g} megapixels per image ({MAX_PIXELS_ENV}); not decoded")
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            return _to_rgb(img)
    except UnidentifiedImageError:
        reason = "empty file (0 bytes)" if _is_empty(path) else \
            "not an image (unknown or invalid format)"
        raise UnreadableImage(reason) from None
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"too large to decode safely: {name}: {exc}") from None
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise UnreadableImage(f"cannot read file: {exc.strerror or exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        raise UnreadableImage(f"corrupt or truncated image: {msg}") from None
