"""Figures as standalone SVG documents (``str``): the pipeline diagram and a digit's glimpse path.

A browser draws them as images (``st.image``, an ``<img>`` in a report), with no JavaScript: the Overview's
first view needs none of Plotly's 4.6 MB of code (BENCHMARKS.md, cold start). Every piece of text is XML-escaped
and stripped of the characters XML 1.0 cannot hold, so any stage or class name gives a well-formed document,
and an SVG in an ``<img>`` runs no script. Colours come from :mod:`.palette`; backgrounds are transparent (the
digit brings its own white paper), so the figures read on light and dark pages.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from mbi.plots.palette import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR

NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters an XML 1.0 document cannot contain, even escaped (control characters, lone surrogates, U+FFFE/F)."""

BOX_W, BOX_H, GAP, PAD = 136, 88, 40, 4  # pipeline boxes and the arrows' gaps, px
NAME_PX, DETAIL_PX, LINE_PX = 15, 13, 17


def xml_text(text: object) -> str:
    """``text`` as XML character data: characters XML cannot hold removed, ``& < >`` escaped."""
    return escape(NOT_XML.sub("", str(text)))


def xml_attr(text: object) -> str:
    """``text`` as a quoted XML attribute value (quotes included), cleaned as :func:`xml_text`."""
    return quoteattr(NOT_XML.sub("", str(text)))


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label={xml_attr(title)} '
            f'font-family="Source Sans Pro, Source Sans 3, Helvetica, Arial, sans-serif">'
            f"<title>{xml_text(title)}</title>{''.join(body)}</svg>")


def pipeline_svg(stages: Sequence[dict], title: str = "The MBI pipeline") -> str:
    """Boxes joined by arrows, one per pipeline stage: dicts with ``name``, ``detail`` (lines joined by ``\\n``)
    and ``ready`` (bool); an SVG document of ``len(stages) * (BOX_W + GAP) - GAP + 2 * PAD`` px by ``BOX_H + 2 * PAD``.

    Stages whose part of the core exists are filled; missing ones are outlined and marked "not yet".
    ``title`` is the document's ``<title>`` and ARIA label.
    """
    n = len(stages)
    width, height = max(n * (BOX_W + GAP) - GAP, 0) + 2 * PAD, BOX_H + 2 * PAD
    mid = PAD + BOX_H / 2
    body = []
    for i, stage in enumerate(stages):
        x0 = PAD + i * (BOX_W + GAP)
        ready = bool(stage.get("ready", True))
        fill = f'fill="{OURS_COLOR}" fill-opacity="0.85"' if ready else 'fill="none"'
        body.append(f'<rect x="{x0}" y="{PAD}" width="{BOX_W}" height="{BOX_H}" rx="6" {fill} '
                    f'stroke="{OURS_COLOR}" stroke-width="2"/>')
        lines = [(str(stage["name"]), f'font-size="{NAME_PX}" font-weight="bold"')]
        lines += [(line, f'font-size="{DETAIL_PX}"') for line in str(stage.get("detail", "")).split("\n") if line]
        lines += [] if ready else [("not yet", f'font-size="{DETAIL_PX}" font-style="italic"')]
        top = mid - LINE_PX * (len(lines) - 1) / 2 + 5  # first baseline: the lines' block centred on the box
        colour = "white" if ready else OURS_COLOR
        body.append(f'<text x="{x0 + BOX_W / 2:g}" text-anchor="middle" fill="{colour}">')
        body += [f'<tspan x="{x0 + BOX_W / 2:g}" y="{top + LINE_PX * j:g}" {style}>{xml_text(text)}</tspan>'
                 for j, (text, style) in enumerate(lines)]
        body.append("</text>")
        if i < n - 1:
            a, b = x0 + BOX_W + 4, x0 + BOX_W + GAP - 4
            body.append(f'<line x1="{a}" y1="{mid:g}" x2="{b - 8}" y2="{mid:g}" stroke="{PAPER_COLOR}" '
                        f'stroke-width="2"/><polygon points="{b},{mid:g} {b - 10},{mid - 6:g} {b - 10},{mid + 6:g}" '
                        f'fill="{PAPER_COLOR}"/>')
    return _svg(width, height, title, body)


def grey_png(image: np.ndarray) -> bytes:
    """A (H, W) uint8 digit (0 = background) as a greyscale PNG with dark ink on white: pixel = 255 - value."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(255 - np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def glimpse_path_svg(image: np.ndarray, centres: np.ndarray, patch_size: int, scales: Sequence[int],
                     title: str = "Glimpse path", zoom: int = 10) -> str:
    """A digit with the RAM's glimpse path: the centres joined in order and numbered from 1, and the square
    each patch covers; an SVG document of ``W * zoom`` by ``H * zoom`` px.

    ``image``: (H, W) uint8, embedded as a PNG (:func:`grey_png`) drawn with square pixels; ``centres``: (T, 2) as
    (row, col) pixels; ``scales`` lists each patch's width multiplier (1, s, s^2, ...): patch ``k`` of glimpse ``t``
    covers rows ``r - w // 2 .. r - w // 2 + w - 1`` (and the same for columns) with ``w = patch_size * scales[k]``,
    the squares the RAM's glimpse sensor reads. Marks beyond the digit are cut at its border.
    """
    img = np.asarray(image, dtype=np.uint8)
    h, w = img.shape
    png = base64.b64encode(grey_png(img)).decode("ascii")
    body = [f'<image x="0" y="0" width="{w * zoom}" height="{h * zoom}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="data:image/png;base64,{png}"/>']
    points = [((int(c) + 0.5) * zoom, (int(r) + 0.5) * zoom) for r, c in np.asarray(centres)]
    for r, c in np.asarray(centres):
        for k, scale in enumerate(scales):
            side = patch_size * int(scale)
            body.append(f'<rect x="{(int(c) - side // 2) * zoom}" y="{(int(r) - side // 2) * zoom}" '
                        f'width="{side * zoom}" height="{side * zoom}" fill="none" stroke="{ACCENT_COLOR}" '
                        f'stroke-width="{2 if k == 0 else 1}" stroke-opacity="{max(0.9 - 0.25 * k, 0.2):g}"/>')
    if points:
        body.append(f'<polyline points="{" ".join(f"{x:g},{y:g}" for x, y in points)}" fill="none" '
                    f'stroke="{ACCENT_COLOR}" stroke-width="2"/>')
    for t, (x, y) in enumerate(points):
        body.append(f'<circle cx="{x:g}" cy="{y:g}" r="3.5" fill="{ACCENT_COLOR}"/>'
                    f'<text x="{x + 5:g}" y="{y - 5:g}" font-size="15" font-weight="bold" fill="{ACCENT_COLOR}" '
                    f'stroke="white" stroke-width="3" paint-order="stroke">{t + 1}</text>')
    return _svg(w * zoom, h * zoom, title, body)
