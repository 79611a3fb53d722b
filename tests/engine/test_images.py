"""Reading photos: every odd file a person may drop gives the picture a viewer shows, or one clear line."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from sgim_desktop.engine.images import MAX_PIXELS, from_array, load_image
from sgim_desktop.errors import BadInputError


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bilevel_png(path, width: int, height: int, rows: int | None = None) -> None:
    """A valid 1-bit PNG of zeros written row by row: tiny on disk however many pixels it declares."""
    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height if rows is None else rows)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b""))


def test_an_ordinary_rgb_picture_is_returned_as_stored(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out, pixels)


def test_16_bit_grey_png_is_scaled_to_8_bits(tmp_path):
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)[None].repeat(8, axis=0)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as im:
        assert im.mode.startswith("I")
    out = load_image(tmp_path / "deep.png")
    assert out.shape == (8, 64, 3)
    assert out[0, 0].tolist() == [0, 0, 0] and out[0, -1].tolist() == [255, 255, 255]
    np.testing.assert_allclose(out[0, :, 0], ramp[0] / 257.0, atol=1)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "print.jpg", quality=95)
    out = load_image(tmp_path / "print.jpg")
    assert out.shape == (16, 16, 3)
    r, g, b = out[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_exif_rotation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "phone.jpg")
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 200 and out[35, 10, 0] < 60  # the red left half is now on top


def test_palette_with_transparency_and_alpha_are_shown_over_white(tmp_path):
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    pal.putpixel((0, 0), 1)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    out = load_image(tmp_path / "pal.png")
    assert out[1, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 255, 0]
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    rgba[0, 1] = (0, 0, 0, 128)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    out = load_image(tmp_path / "alpha.png")
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[1, 1].tolist() == [255, 255, 255]
    assert 120 <= out[0, 1, 0] <= 135
    Image.new("LA", (2, 2), (10, 0)).save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png")[0, 0].tolist() == [255, 255, 255]


def test_a_one_pixel_picture_is_a_picture(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "dot.png")
    assert load_image(tmp_path / "dot.png").tolist() == [[[1, 2, 3]]]


def test_a_huge_picture_is_refused_before_decoding(tmp_path):
    _bilevel_png(tmp_path / "huge.png", 20000, 20000)
    assert (tmp_path / "huge.png").stat().st_size < 200_000
    with pytest.raises(BadInputError, match=r"400 MP.* than the 100 MP"):
        load_image(tmp_path / "huge.png")
    _bilevel_png(tmp_path / "small.png", 300, 200)
    with pytest.raises(BadInputError, match="300 x 200"):
        load_image(tmp_path / "small.png", max_pixels=50_000)
    assert load_image(tmp_path / "small.png").shape == (200, 300, 3)


def test_a_decompression_bomb_is_refused(tmp_path):
    """A few hundred bytes that claim 65535 x 65535 pixels (4.3 billion) must not be decoded."""
    _bilevel_png(tmp_path / "bomb.png", 65535, 65535, rows=1)
    assert (tmp_path / "bomb.png").stat().st_size < 1000
    with pytest.raises(BadInputError, match=r"4295 MP.*decompression bomb"):
        load_image(tmp_path / "bomb.png")
    assert MAX_PIXELS < 65535 * 65535


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_a_truncated_file_gives_one_line(tmp_path, suffix):
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / f"full.{suffix}")
    data = (tmp_path / f"full.{suffix}").read_bytes()
    (tmp_path / f"cut.{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="cut short or damaged") as err:
        load_image(tmp_path / f"cut.{suffix}")
    assert "\n" not in str(err.value)


def test_not_a_picture_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(BadInputError, match="not a picture"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(BadInputError, match="not found"):
        load_image(tmp_path / "nowhere.png")
    with pytest.raises(BadInputError, match="not a file"):
        load_image(tmp_path)


def test_arrays_from_other_sources_are_normalised_too():
    assert from_array(np.full((2, 2), 65535, np.uint16)).tolist() == [[[255] * 3] * 2] * 2
    assert from_array(np.zeros((1, 1, 4), np.float32))[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(BadInputError):
        from_array(np.zeros((3,), np.uint8))
