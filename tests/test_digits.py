"""Digit uploads: bad files get a clear DigitError; real digits come out MNIST-like."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mbi.digits import MAX_UPLOAD_BYTES, DigitError, encode_png, load_digit, to_mnist


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def _drawn_one(size: int = 120, dark_on_light: bool = True) -> np.ndarray:
    """A vertical stroke (a '1') off centre, as a user might draw it."""
    ink = np.zeros((size, size), dtype=np.uint8)
    ink[size // 5: size - size // 5, size // 4: size // 4 + size // 10] = 255
    return 255 - ink if dark_on_light else ink


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(float).ravel(), b.astype(float).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_not_an_image_empty_and_too_big():
    with pytest.raises(DigitError, match="not an image"):
        load_digit(b"this is plain text, not a picture")
    with pytest.raises(DigitError, match="empty"):
        load_digit(b"")
    with pytest.raises(DigitError, match="limit is 2 MiB"):
        load_digit(b"\x89PNG" + bytes(MAX_UPLOAD_BYTES))


def test_too_many_pixels_is_refused_before_decoding():
    data = _save(Image.new("L", (5000, 4000), 255), "PNG")  # compresses to a few kB
    assert len(data) < MAX_UPLOAD_BYTES
    with pytest.raises(DigitError, match="pixels"):
        load_digit(data)


def test_other_formats_tiny_images_and_blank_images():
    with pytest.raises(DigitError, match="only PNG and JPEG"):
        load_digit(_save(Image.fromarray(_drawn_one()), "BMP"))
    with pytest.raises(DigitError, match="at least 8 px"):
        load_digit(_save(Image.new("L", (5, 40), 0), "PNG"))
    with pytest.raises(DigitError, match="no digit found"):
        load_digit(_save(Image.new("RGB", (64, 64), (250, 250, 250)), "PNG"))
    noisy = np.random.default_rng(0).integers(0, 255, (100, 100), dtype=np.uint8)
    data = _save(Image.fromarray(noisy), "PNG")
    with pytest.raises(DigitError, match="damaged"):
        load_digit(data[: len(data) // 2])


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "1", "I;16", "CMYK", "LA"])
def test_every_mode_gives_the_same_digit(mode):
    gray = _drawn_one()
    reference = load_digit(_save(Image.fromarray(gray), "PNG")).image
    img = Image.fromarray(gray)
    if mode == "I;16":
        img = Image.fromarray(gray.astype(np.uint16) * 257)
    else:
        img = img.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    digit = load_digit(_save(img, fmt))
    assert digit.image.shape == (28, 28) and digit.image.dtype == np.uint8
    assert _cosine(digit.image, reference) > 0.95


def test_transparent_drawing_keeps_its_strokes():
    rgba = np.zeros((100, 100, 4), dtype=np.uint8)  # black strokes on a transparent canvas
    rgba[20:80, 45:55, 3] = 255
    digit = load_digit(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert digit.image.max() == 255 and digit.image[:, :5].max() == 0
    assert any("transparency" in s for s in digit.steps)


def test_light_background_is_inverted_and_digit_is_centred_20px():
    digit = load_digit(_save(Image.fromarray(_drawn_one(dark_on_light=True)), "PNG"))
    img = digit.image.astype(float)
    assert any("inverted" in s for s in digit.steps)
    rows = np.flatnonzero(img.max(axis=1) > 0)
    assert rows[-1] - rows[0] + 1 == 20  # larger side scaled to 20 px
    yy, xx = np.indices(img.shape)
    assert abs((yy * img).sum() / img.sum() - 14) <= 1 and abs((xx * img).sum() / img.sum() - 14) <= 1


def test_real_mnist_digit_round_trips(mnist):
    """Test digits, enlarged 5x, printed black on white and saved as JPEG, come back close to themselves."""
    sims = []
    for i in range(30):
        original = mnist.test_x[i]
        photo = Image.fromarray(255 - original).resize((140, 140), Image.Resampling.BICUBIC).convert("RGB")
        digit = load_digit(_save(photo, "JPEG", quality=85))
        sims.append(_cosine(digit.image, original))
    # a 1-px shift of thin strokes costs about 0.2 of cosine similarity; most come back almost exact
    assert np.mean(sims) > 0.9 and min(sims) > 0.6


def test_to_mnist_accepts_arrays_and_png_helper_round_trips(mnist):
    img = mnist.test_x[0]
    assert _cosine(to_mnist(img.astype(float)), img) > 0.9
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(img)))), img)
