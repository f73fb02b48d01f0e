"""Decoding details: 16-bit images keep their gradation, the pixel limit is checked from the
header (the file named, nothing decoded), EXIF orientation is applied."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from dhr_sdk.core.errors import DhrError
from dhr_sdk.core.registry import get_registry
from dhr_sdk.data.collection import Collection
from dhr_sdk.data.features import extract_collection
from dhr_sdk.data.images import MAX_PIXELS, UnreadableImage, load_rgb, pixel_limit

#: 65535·k/15 for k = 0..15: sixteen 16-bit levels, which are 255·k/15 = 17·k in 8 bits.
LEVELS16 = (np.arange(16) * 4369).astype(np.uint16)
LEVELS8 = np.arange(16) * 17


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def raw_png(path: Path, width: int, height: int, bit_depth: int, color_type: int,
            row: bytes) -> Path:
    """A PNG whose every row is ``row`` (filter 0), compressed as a stream: a huge image
    costs little memory to write (Pillow cannot write 48-bit RGB or 16-bit gray+alpha)."""
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(b"\x00" + row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
                     + _chunk(b"IEND", b""))
    return path


def gradient16(channels: int) -> bytes:
    """One row of the 16 levels, big-endian, each level repeated in ``channels`` samples."""
    return np.repeat(LEVELS16.astype(">u2")[:, None], channels, axis=1).tobytes()


def gray_zeros(path: Path, width: int, height: int) -> Path:
    return raw_png(path, width, height, 8, 0, bytes(width))


# --- 16 bits -----------------------------------------------------------------------------

def test_16_bit_grayscale_png_keeps_its_gradation(tmp_path: Path) -> None:
    p = tmp_path / "g16.png"
    Image.fromarray(np.tile(LEVELS16, (4, 1))).save(p)
    assert Image.open(p).mode == "I;16"
    out = np.asarray(load_rgb(p))
    assert out.dtype == np.uint8 and out.shape == (4, 16, 3)
    np.testing.assert_array_equal(out[0, :, 0], LEVELS8)
    assert (out == out[..., :1]).all()


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_bit_tiff_modes_are_scaled(tmp_path: Path, mode: str) -> None:
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    p = tmp_path / "g.tif"
    Image.frombytes(mode, (16, 2), np.tile(LEVELS16, (2, 1)).astype(dtype).tobytes()).save(p)
    assert Image.open(p).mode == mode
    np.testing.assert_array_equal(np.asarray(load_rgb(p))[1, :, 1], LEVELS8)


@pytest.mark.parametrize(("color_type", "channels"), [(0, 1), (2, 3), (4, 2), (6, 4)],
                         ids=["gray16", "rgb48", "gray16+alpha", "rgba64"])
def test_every_16_bit_png_layout_keeps_distinct_levels(tmp_path: Path, color_type: int,
                                                       channels: int) -> None:
    p = raw_png(tmp_path / "x.png", 16, 3, 16, color_type, gradient16(channels))
    out = np.asarray(load_rgb(p)).astype(int)
    assert out.shape == (3, 16, 3)
    assert len(np.unique(out[0, :, 0])) == 16
    assert np.abs(out[0] - LEVELS8[:, None]).max() <= 1  # high byte or rounding


# --- pixel limit -------------------------------------------------------------------------

def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: ImageFile.ImageFile) -> None:
        raise AssertionError(f"{self.filename} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 megapixels in ~100 KB: between Pillow's warning and error limits, so Pillow alone
    # decodes it (~100 MB) with a warning that does not name the file
    bomb = gray_zeros(tmp_path / "bomb.png", 10_000, 10_000)
    assert bomb.stat().st_size < 200_000
    _no_decoding(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no Pillow DecompressionBombWarning either
        with pytest.raises(UnreadableImage) as err:
            load_rgb(bomb)
    reason = str(err.value)
    assert "bomb.png" in reason and "10000x10000" in reason
    assert "100.0 megapixels" in reason and "limit of 50 megapixels" in reason


def test_beyond_pillows_own_limit_the_file_is_named_too(tmp_path: Path) -> None:
    big = gray_zeros(tmp_path / "huge.png", 20_000, 10_000)  # 200 MP > Pillow's 179 MP
    with pytest.raises(UnreadableImage, match=r"too large.*huge\.png"):
        load_rgb(big, max_pixels=10**9)


def test_pixel_limit_default_argument_and_environment(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert pixel_limit() == MAX_PIXELS == 50_000_000
    p = tmp_path / "small.png"
    Image.new("RGB", (20, 10)).save(p)
    assert load_rgb(p, max_pixels=200).size == (20, 10)
    with pytest.raises(UnreadableImage, match="20x10 pixels"):
        load_rgb(p, max_pixels=199)
    monkeypatch.setenv("DHR_MAX_IMAGE_PIXELS", "199")
    with pytest.raises(UnreadableImage, match="DHR_MAX_IMAGE_PIXELS"):
        load_rgb(p)
    for bad in ("0", "-5", "lots", "1.5e6"):
        monkeypatch.setenv("DHR_MAX_IMAGE_PIXELS", bad)
        with pytest.raises(DhrError, match="positive whole number"):
            pixel_limit()


def test_extraction_skips_the_bomb_by_name_and_keeps_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "c"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / f"ok{i}.png")
    gray_zeros(root / "sub-bomb.png", 9_000, 9_000)
    monkeypatch.setenv("DHR_MAX_IMAGE_PIXELS", "60000000")
    bb = get_registry().create("backbone", "pixels", {"size": 8})
    res = extract_collection(tmp_path / "s.h5", Collection.from_folder(root), bb, workers=0)
    assert res.collection.image_ids == ["ok0.png", "ok1.png", "ok2.png"]
    assert res.collection.skipped == ["sub-bomb.png"]
    reason = res.collection.skipped_reasons[0]
    assert "sub-bomb.png is 9000x9000" in reason and "limit of 60 megapixels" in reason


# --- EXIF orientation --------------------------------------------------------------------

#: EXIF orientation -> what a viewer shows, as a NumPy operation on the stored (h, w, c).
VIEWER = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),  # stored rotated 90° counter-clockwise: turn clockwise
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(VIEWER))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    stored = np.zeros((32, 48, 3), np.uint8)
    stored[:16, :16] = 255   # white top-left block
    stored[16:, 32:, 0] = 200  # red bottom-right block
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "photo.jpg"
    Image.fromarray(stored).save(p, format="JPEG", quality=95, exif=exif.tobytes())
    out = np.asarray(load_rgb(p)).astype(int)
    expected = VIEWER[orientation](stored).astype(int)
    assert out.shape == expected.shape
    assert np.abs(out - expected).mean() < 4


def test_an_open_file_decodes_as_its_path_does(tmp_path: Path) -> None:
    """Uploads are decoded from the open file: same pixels, errors named by the label."""
    import io

    path = tmp_path / "a.png"
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(path)
    from_file = load_rgb(io.BytesIO(path.read_bytes()), name="a.png")
    np.testing.assert_array_equal(np.asarray(from_file), np.asarray(load_rgb(path)))
    with pytest.raises(UnreadableImage, match="not an image"):
        load_rgb(io.BytesIO(b"not an image"), name="junk.png")
    with pytest.raises(UnreadableImage, match="empty file"):
        load_rgb(io.BytesIO(b""), name="empty.png")
    with pytest.raises(UnreadableImage, match=r"too large to decode safely: big\.png"):
        load_rgb(io.BytesIO(path.read_bytes()), max_pixels=4, name="big.png")
