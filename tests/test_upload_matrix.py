"""Uploads as a visitor may send them: every image mode, size and format, a PDF, an animated PNG and a
decompression bomb. Each gives a valid 28x28 digit with a displayable preview, or one DigitError.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mbi.digits import FORMATS, MAX_PIXELS, MIN_SIDE, PREVIEW_SIDE, DigitError, load_digit

MODES = ["1", "L", "I;16", "I", "F", "P", "P+transparency", "RGB", "RGBA", "CMYK", "LA"]
SAVE_AS = {"PNG": "PNG", "JPEG": "JPEG", "GIF": "GIF", "WebP": "WEBP", "TIFF": "TIFF", "BMP": "BMP", "PDF": "PDF"}


def _ink(size: int = 64) -> np.ndarray:
    """A dark stroke (a '1' with a foot) on white, 0..255."""
    img = np.full((size, size), 255, dtype=np.uint8)
    img[size // 6: 5 * size // 6, size // 2 - size // 12: size // 2 + size // 12] = 0
    img[5 * size // 6 - size // 10: 5 * size // 6, size // 3: 2 * size // 3] = 0
    return img


def _image(mode: str, size: int = 64) -> Image.Image:
    gray = Image.fromarray(_ink(size))
    if mode == "I;16":
        return Image.fromarray(_ink(size).astype(np.int32) * 257).convert("I;16")
    if mode == "P+transparency":
        img = gray.convert("P")
        img.info["transparency"] = 255
        return img
    return gray.convert(mode)


def _encode(img: Image.Image, fmt: str) -> bytes | None:
    buffer = io.BytesIO()
    try:
        kwargs = {"transparency": img.info["transparency"]} if "transparency" in img.info else {}
        img.save(buffer, format=SAVE_AS[fmt], **kwargs)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # Pillow cannot write this mode in this format: a visitor cannot send it either
    return buffer.getvalue()


def _check(digit) -> None:
    assert digit.image.shape == (28, 28) and digit.image.dtype == np.uint8
    assert digit.preview.dtype == np.uint8 and digit.preview.ndim == 2
    assert max(digit.preview.shape) <= PREVIEW_SIDE
    Image.fromarray(digit.preview).save(io.BytesIO(), format="PNG")  # what the page shows can be shown


@pytest.mark.parametrize("fmt", list(SAVE_AS))
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_and_format_gives_a_digit_or_one_message(mode, fmt):
    data = _encode(_image(mode), fmt)
    if data is None:
        pytest.skip(f"Pillow cannot write mode {mode} as {fmt}")
    try:
        digit = load_digit(data)
    except DigitError as exc:
        assert fmt not in FORMATS, f"{mode} {fmt}: {exc}"
        assert "PNG" in str(exc)
        return
    assert fmt in FORMATS
    _check(digit)
    assert digit.image.max() > 128  # the stroke survived as bright ink


@pytest.mark.parametrize("side", [1, MIN_SIDE - 1, MIN_SIDE, 28, 500, 4096])
def test_sizes_from_one_pixel_to_the_limit(side):
    img = Image.fromarray(_ink(side) if side >= 12 else np.zeros((side, side), np.uint8))
    data = _encode(img, "PNG")
    if side < MIN_SIDE:
        with pytest.raises(DigitError, match=f"at least {MIN_SIDE} px"):
            load_digit(data)
    elif side < 12:
        with pytest.raises(DigitError, match="no digit found"):
            load_digit(data)
    else:
        _check(load_digit(data))


def test_over_the_pixel_limit_is_refused_before_decoding():
    side = int(MAX_PIXELS**0.5) + 1
    data = _encode(Image.new("1", (side, side), 1), "PNG")
    with pytest.raises(DigitError, match="limit is"):
        load_digit(data)


def _bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG header promising width x height pixels, with one tiny compressed row."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_decompression_bomb_has_its_own_message():
    with pytest.raises(DigitError, match="decompression bomb"):
        load_digit(_bomb_png(100_000, 100_000))


def test_animated_png_uses_its_first_frame():
    frames = [Image.fromarray(_ink()), Image.fromarray(255 - _ink())]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    digit = load_digit(buffer.getvalue())
    _check(digit)
    assert any("first frame" in s for s in digit.steps)


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
                                  b"GIF89a" + b"\xff" * 20], ids=["empty", "pdf", "png-junk", "gif-junk"])
def test_junk_files_give_one_message(data):
    with pytest.raises(DigitError):
        load_digit(data)


def test_truncated_png_gives_one_message():
    data = _encode(Image.fromarray(_ink(200)), "PNG")
    with pytest.raises(DigitError):
        load_digit(data[: len(data) // 2])
