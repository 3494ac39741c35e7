"""A user's digit image (PNG or JPEG) checked and turned into a 28x28 MNIST-like image.

MNIST digits are white on black, size-normalised so the digit's larger side is
20 px (aspect ratio kept, anti-aliased) and placed in a 28x28 field so that their
centre of mass sits at the centre (LeCun et al.). :func:`load_digit` does the same
to an uploaded photo or drawing:

1. validate: at most :data:`MAX_UPLOAD_BYTES`, a PNG or JPEG that Pillow can decode,
   at most :data:`MAX_PIXELS` pixels (checked before decoding; a file that declares far more,
   a decompression bomb, gets its own message), at least :data:`MIN_SIDE` px per side;
2. to grayscale whatever the mode (palette, RGBA, 16-bit, CMYK, ...); transparency is
   flattened onto a background that contrasts with the strokes;
3. invert when the background (the border) is light, so ink is bright;
4. stretch the contrast to 0..255 and drop faint background noise;
5. crop to the ink, scale the larger side to 20 px, centre by centre of mass.

Errors are :class:`DigitError` (a ``ValueError``) with one sentence a user can act on.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
"""Largest accepted file (2 MiB; ``.streamlit/config.toml`` caps uploads at the same size)."""
MAX_PIXELS = 4096 * 4096
"""Largest accepted image area, checked from the header before the pixels are decoded."""
MIN_SIDE = 8
"""Smallest accepted width and height (px)."""
FORMATS = ("PNG", "JPEG")
DIGIT_BOX = 20
"""Side (px) of the box the digit is scaled into, as in MNIST."""
SIZE = 28
INK_THRESHOLD = 0.25
"""Pixels below this share of the brightest ink are background (noise, paper texture)."""
MIN_CONTRAST = 32
"""Smallest difference (0..255) between ink and background for an image to hold a digit."""
PREVIEW_SIDE = 280
"""Longest side (px) of :attr:`Digit.preview`, the upload as decoded, for display."""


class DigitError(ValueError):
    """The upload cannot be used as a digit; the message says why and what to do."""


@dataclass
class Digit:
    """The 28x28 MNIST-like image, what was done to get it, and the upload as decoded.

    Pages show ``preview``, never the uploaded bytes: re-encoding those (16-bit, CMYK, ...) for display
    would be a second decoder that a file can trip.
    """

    image: np.ndarray  # uint8 (28, 28), white digit on black
    original_size: tuple[int, int]  # (width, height) px of the upload
    preview: np.ndarray  # uint8 (h, w), longest side <= PREVIEW_SIDE: the decoded upload in grayscale
    steps: list[str] = field(default_factory=list)


def _open(data: bytes) -> Image.Image:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DigitError(f"expected the file's bytes, got {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise DigitError("the file is empty; upload a PNG or JPEG image of one digit")
    if size > MAX_UPLOAD_BYTES:
        raise DigitError(f"the file is {size / 2**20:.1f} MiB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MiB "
                         "(a digit needs only a few kilobytes: crop or shrink it)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DigitError(f"the file declares an image of more than {Image.MAX_IMAGE_PIXELS:,} pixels in "
                         f"{size / 1024:.0f} KiB, which only a decompression bomb does; it was not decoded. "
                         "Upload a plain PNG or JPEG of a few hundred pixels per side") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DigitError("this file is not an image Pillow can read; upload a PNG or JPEG") from exc
    if img.format not in FORMATS:
        raise DigitError(f"this is a {img.format or 'unknown'} image; only PNG and JPEG are accepted")
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise DigitError(f"the image is {width}x{height} px; the limit is {MAX_PIXELS:,} pixels "
                         "(shrink it to a few hundred pixels per side)")
    if min(width, height) < MIN_SIDE:
        raise DigitError(f"the image is {width}x{height} px; it needs at least {MIN_SIDE} px per side")
    try:
        img.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise DigitError("the image data is damaged or truncated; export it again as PNG or JPEG") from exc
    return img


def _grayscale(img: Image.Image, steps: list[str]) -> np.ndarray:
    """Luminance as float in [0, 255]; transparency flattened onto a contrasting background."""
    img = ImageOps.exif_transpose(img) or img
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        steps.append(f"{img.mode} pixels rescaled to 0..255")
        return (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode in ("RGB", "L") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
        lum = np.asarray(rgba.convert("L"), dtype=np.float64)
        if alpha.min() < 1.0:
            opaque = alpha > 0.5
            ink_dark = lum[opaque].mean() < 128 if opaque.any() else True
            background = 255.0 if ink_dark else 0.0
            steps.append("transparency flattened onto " + ("white" if ink_dark else "black"))
            return alpha * lum + (1.0 - alpha) * background
        return lum
    if img.mode != "L":
        steps.append(f"{img.mode} converted to grayscale")
    return np.asarray(img.convert("L"), dtype=np.float64)


def _preview(gray: np.ndarray) -> np.ndarray:
    """The grayscale upload (values 0..255) as uint8, shrunk so its longest side is at most PREVIEW_SIDE."""
    img = Image.fromarray(np.uint8(np.clip(np.rint(gray), 0, 255)))
    scale = PREVIEW_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))),
                         Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def to_mnist(gray: np.ndarray, steps: list[str] | None = None) -> np.ndarray:
    """A grayscale array (any size, values 0..255, any polarity) to a 28x28 uint8 MNIST-like digit."""
    steps = [] if steps is None else steps
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise DigitError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    if np.median(_border(gray)) > 127:
        gray = 255.0 - gray
        steps.append("inverted (light background)")
    background = float(np.median(_border(gray)))
    ink = gray - background
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise DigitError("no digit found: the image has (almost) no contrast; draw a dark digit on a light "
                         "background or a light digit on a dark one")
    ink = np.clip(ink / peak, 0.0, 1.0)
    ink[ink < INK_THRESHOLD] = 0.0
    rows = np.flatnonzero(ink.max(axis=1) > 0)
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    ink = ink[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    h, w = ink.shape
    if h * w > 0.9 * gray.size and min(gray.shape) > 2 * DIGIT_BOX:
        steps.append("the ink fills almost the whole image: is it one digit on a plain background?")
    scale = DIGIT_BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    box = Image.fromarray(np.uint8(np.rint(255 * ink))).resize((new_w, new_h), Image.Resampling.LANCZOS)
    small = np.asarray(box, dtype=np.float64)
    steps.append(f"cropped to the digit ({w}x{h} px) and scaled to {new_w}x{new_h} px")
    total = small.sum()
    if total <= 0:
        raise DigitError("no digit found after scaling; use a thicker stroke or a larger digit")
    yy, xx = np.indices(small.shape)
    cy, cx = (yy * small).sum() / total, (xx * small).sum() / total
    top = int(np.clip(round(SIZE / 2 - cy), 0, SIZE - new_h))
    left = int(np.clip(round(SIZE / 2 - cx), 0, SIZE - new_w))
    out = np.zeros((SIZE, SIZE), dtype=np.float64)
    out[top: top + new_h, left: left + new_w] = small
    steps.append("centred by centre of mass in a 28x28 field")
    return np.uint8(np.clip(np.rint(out), 0, 255))


def load_digit(data: bytes) -> Digit:
    """Validate an uploaded PNG/JPEG and convert it to a 28x28 MNIST-like digit (see the module docstring)."""
    img = _open(data)
    steps: list[str] = [f"{img.format} {img.size[0]}x{img.size[1]} px, mode {img.mode}"]
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
        steps.append("animated image: first frame used")
    gray = _grayscale(img, steps)
    image = to_mnist(gray, steps)
    return Digit(image=image, original_size=img.size, steps=steps, preview=_preview(gray))


def _drawing_ink(rgba: np.ndarray, steps: list[str]) -> np.ndarray:
    """The ink (float64 ``[H, W]``, 0..255) of a canvas drawing ``uint8 [H, W, 4]`` RGBA or ``[H, W, 3]`` RGB.

    On a transparent canvas the ink is the opacity (strokes of any colour); on an opaque one it is
    the luminance. Raises :class:`DigitError` for another shape or when nothing was drawn.
    """
    arr = np.asarray(rgba)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or min(arr.shape[:2]) < 1:
        raise DigitError(f"expected an RGB or RGBA drawing [H, W, 3 or 4], got shape {arr.shape}")
    luma = arr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as Pillow's "L"
    alpha = arr[..., 3].astype(np.float64) if arr.shape[2] == 4 else None
    # opacity is the ink on a transparent canvas, and on any canvas whose colours alone show nothing (strokes
    # of the canvas's own colour that cover most of its border)
    if alpha is not None and (np.median(_border(alpha)) < 128 or float(luma.max()) - float(luma.min()) < MIN_CONTRAST):
        gray = alpha
        steps.append(f"{arr.shape[1]}x{arr.shape[0]} px drawing: the strokes' opacity is the ink")
    else:
        gray = luma
        steps.append(f"{arr.shape[1]}x{arr.shape[0]} px drawing: its brightness is the ink")
    if float(gray.max()) - float(gray.min()) < MIN_CONTRAST:
        raise DigitError("the canvas is empty: draw one digit with the mouse or a finger")
    return gray


def drawing_to_mnist(rgba: np.ndarray, steps: list[str] | None = None) -> np.ndarray:
    """A canvas drawing (``uint8 [H, W, 4]`` RGBA, or ``[H, W, 3]`` RGB) to a 28x28 MNIST-like digit.

    The ink is found by :func:`_drawing_ink` (opacity on a transparent canvas, else luminance; a
    light background is inverted by :func:`to_mnist`). :func:`to_mnist` then crops to the ink, fits
    it in 20x20 and centres it by centre of mass, as MNIST does.
    Raises :class:`DigitError` when nothing was drawn.
    """
    steps = [] if steps is None else steps
    return to_mnist(_drawing_ink(rgba, steps), steps)


def load_drawing(data: bytes) -> Digit:
    """A drawing canvas's PNG (what the browser sends) checked like an upload, then :func:`drawing_to_mnist`."""
    img = _open(data)
    steps: list[str] = []
    gray = _drawing_ink(np.asarray(img.convert("RGBA")), steps)
    return Digit(image=to_mnist(gray, steps), original_size=img.size, steps=steps, preview=_preview(gray))


def encode_png(image: np.ndarray) -> bytes:
    """A uint8 grayscale array as PNG bytes (for downloads and tests)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


__all__ = ["DIGIT_BOX", "Digit", "DigitError", "FORMATS", "MAX_PIXELS", "MAX_UPLOAD_BYTES", "MIN_SIDE", "PREVIEW_SIDE",
           "drawing_to_mnist", "encode_png", "load_digit", "load_drawing", "to_mnist"]
