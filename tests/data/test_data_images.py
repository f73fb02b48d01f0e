"""Decoding image files: every kind of unusable file fails with its own reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dhr_sdk.data.images import UnreadableImage, is_image_name, load_rgb


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _damaged(data: bytes) -> bytes:
    """Valid header, zeroed bytes in the middle of the compressed data."""
    mid = len(data) // 2
    return data[:mid] + bytes(50) + data[mid + 50:]


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


RNG = np.random.default_rng(0)
GRAY = RNG.integers(0, 255, (40, 30), dtype=np.uint8)
RGB = RNG.integers(0, 255, (40, 30, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["png", "bmp", "webp", "tiff", "jpeg"])
def test_valid_images_decode_to_rgb(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / f"x.{fmt}"
    Image.fromarray(RGB).save(p, format=fmt.upper() if fmt != "jpeg" else "JPEG",
                              **({"lossless": True} if fmt == "webp" else {}))
    img = load_rgb(p)
    assert img.mode == "RGB" and img.size == (30, 40)
    if fmt in ("png", "bmp", "tiff", "webp"):
        assert np.array_equal(np.asarray(img), RGB)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_modes_are_converted(tmp_path: Path, mode: str) -> None:
    p = tmp_path / "m.png"
    Image.fromarray(RGB).convert(mode).save(p)
    assert load_rgb(p).mode == "RGB"


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"this is a text file, not an image\n", "not an image"),
    (_png(GRAY)[:60], "truncated"),
    (_jpeg(RGB)[: len(_jpeg(RGB)) // 2], "truncated"),
    (_damaged(_png(GRAY)), "corrupt"),
    (_png(GRAY)[:33] + bytes(200), "not an image"),
])
def test_unusable_files_raise_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(UnreadableImage, match=reason):
        load_rgb(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImage, match="cannot read"):
        load_rgb(tmp_path / "nope.png")


def test_extensions_case_insensitive() -> None:
    for name in ("a.JPG", "b.jpeg", "c.Png", "d.BMP", "e.webp", "f.TIF", "g.tiff"):
        assert is_image_name(name)
    for name in ("a.txt", "b.h5", "png", "c.gif"):
        assert not is_image_name(name)
