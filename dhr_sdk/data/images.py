"""Decoding image files, with an explicit reason whenever a file cannot be used."""

from __future__ import annotations

import os

from PIL import Image, UnidentifiedImageError

#: File name endings treated as images when listing a folder (case-insensitive).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class UnreadableImage(Exception):
    """A file that cannot be decoded to an image; ``str(exc)`` is the reason."""


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _is_empty(path: str | os.PathLike[str]) -> bool:
    try:
        return os.stat(path).st_size == 0
    except OSError:
        return False


def load_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """Fully decode ``path`` to an RGB image or raise :class:`UnreadableImage`.

    The whole file is decoded (``Image.load``), so truncated files fail here and not
    later; truncated data is never silently padded.
    """
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except UnidentifiedImageError:
        reason = "empty file (0 bytes)" if _is_empty(path) else \
            "not an image (unknown or invalid format)"
        raise UnreadableImage(reason) from None
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"too large to decode safely: {exc}") from None
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise UnreadableImage(f"cannot read file: {exc.strerror or exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        raise UnreadableImage(f"corrupt or truncated image: {msg}") from None
