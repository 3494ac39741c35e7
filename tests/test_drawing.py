"""A drawn digit is centred and scaled like MNIST (``mbi.digits.drawing_to_mnist``): hand-made cases.

MNIST's rule (LeCun et al.): the digit's larger side is scaled to 20 px, and it is placed in 28x28 so
that its centre of mass is at the centre. The checks below measure both on the output, independently
of how the function computes them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbi.digits import DIGIT_BOX, SIZE, DigitError, drawing_to_mnist, to_mnist

CANVAS = 280


def _canvas(opaque: bool = False) -> np.ndarray:
    """An empty 280x280 RGBA canvas: transparent, or opaque black."""
    out = np.zeros((CANVAS, CANVAS, 4), dtype=np.uint8)
    if opaque:
        out[..., 3] = 255
    return out


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    img = np.asarray(image, dtype=np.float64)
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / img.sum()), float((cols * img).sum() / img.sum())


def _ink_box(image: np.ndarray, level: int = 64) -> tuple[int, int]:
    """Height and width (px) of the pixels brighter than ``level``."""
    rows = np.flatnonzero((image > level).any(axis=1))
    cols = np.flatnonzero((image > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_a_shifted_square_lands_at_the_centre_and_fills_the_20px_box():
    drawing = _canvas()
    drawing[10:70, 190:250] = (0, 0, 0, 255)  # a black 60x60 square near the top-right corner
    image = drawing_to_mnist(drawing)
    assert image.shape == (SIZE, SIZE) and image.dtype == np.uint8
    r, c = _centre_of_mass(image)
    # MNIST's centre is the middle of the 28x28 field (13.5 in pixel indices); rounding to whole pixels
    # moves the mass by at most half a pixel
    assert abs(r - 13.5) <= 0.5 and abs(c - 13.5) <= 0.5
    assert _ink_box(image) == (DIGIT_BOX, DIGIT_BOX)
    assert image[:3].max() == 0 and image[-3:].max() == 0 and image[:, :3].max() == 0 and image[:, -3:].max() == 0


def test_a_square_anywhere_gives_the_same_digit():
    a, b = _canvas(), _canvas()
    a[10:70, 10:70, 3] = 255
    b[200:260, 150:210, 3] = 255
    np.testing.assert_array_equal(drawing_to_mnist(a), drawing_to_mnist(b))


def test_a_large_stroke_is_scaled_down_to_fit_keeping_its_shape():
    drawing = _canvas()
    drawing[100:140, 5:275] = (255, 255, 255, 255)  # a 270 x 40 px bar: wider than the box once scaled
    image = drawing_to_mnist(drawing)
    h, w = _ink_box(image)
    assert w == DIGIT_BOX  # the larger side becomes 20 px
    assert 2 <= h <= 4  # 40 / 270 * 20 = 2.96 px: the aspect ratio is kept
    r, c = _centre_of_mass(image)
    assert abs(r - 13.5) <= 0.5 and abs(c - 13.5) <= 0.5


def test_a_small_dot_is_scaled_up_like_mnist():
    drawing = _canvas()
    drawing[140:150, 140:146, 3] = 255  # 6 x 10 px
    h, w = _ink_box(drawing_to_mnist(drawing))
    assert h == DIGIT_BOX and w == 12


def test_white_on_black_and_black_on_white_drawings_agree():
    dark, light = _canvas(opaque=True), _canvas(opaque=True)
    light[..., :3] = 255
    dark[50:230, 120:150, :3] = 255
    light[50:230, 120:150, :3] = 0
    np.testing.assert_array_equal(drawing_to_mnist(dark), drawing_to_mnist(light))


def test_the_upload_conversion_is_the_one_owner():
    drawing = _canvas()
    drawing[40:200, 60:90, 3] = 255
    drawing[40:70, 60:200, 3] = 255
    np.testing.assert_array_equal(drawing_to_mnist(drawing), to_mnist(drawing[..., 3].astype(float)))


def test_an_empty_canvas_says_what_to_do():
    with pytest.raises(DigitError, match="draw one digit"):
        drawing_to_mnist(_canvas())
    with pytest.raises(DigitError, match="RGB or RGBA"):
        drawing_to_mnist(np.zeros((28, 28)))


@settings(max_examples=40, deadline=None)
@given(top=st.integers(0, CANVAS - 20), left=st.integers(0, CANVAS - 20),
       h=st.integers(8, CANVAS), w=st.integers(8, CANVAS))
def test_any_rectangle_is_centred_and_fitted(top, left, h, w):
    drawing = _canvas()
    drawing[top: top + h, left: left + w, 3] = 255
    image = drawing_to_mnist(drawing)
    r, c = _centre_of_mass(image)
    bh, bw = _ink_box(image, level=0)
    assert max(bh, bw) <= DIGIT_BOX + 1  # Lanczos may spill one faint pixel
    assert abs(r - 13.5) <= 1.0 and abs(c - 13.5) <= 1.0


def test_the_canvas_png_is_checked_like_an_upload_then_converted():
    from mbi.digits import encode_png, load_drawing

    drawing = _canvas()
    drawing[60:220, 130:160] = (0, 0, 0, 255)
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(drawing, mode="RGBA").save(buffer, format="PNG")
    digit = load_drawing(buffer.getvalue())
    np.testing.assert_array_equal(digit.image, drawing_to_mnist(drawing))
    assert digit.original_size == (CANVAS, CANVAS) and digit.steps
    with pytest.raises(DigitError, match="empty"):
        load_drawing(b"")
    with pytest.raises(DigitError, match="not an image"):
        load_drawing(b"GIF89a not really")
    assert encode_png(digit.image)  # the preprocessed digit can be offered as a download
