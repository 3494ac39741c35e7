"""Helpers shared by the AppTest suites: open the app, read its Plotly specs, images, metrics and errors."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
NO_LIMIT = 24 * 3600.0  # AppTest needs a timeout per run; this one never fires in practice


def open_page(page: str | None, query: dict[str, str] | None = None) -> AppTest:
    """Run the app, switch to ``page`` (None: the default page), apply ``query`` params and rerun."""
    at = AppTest.from_file(APP, default_timeout=NO_LIMIT)
    at.run()
    if page is not None:
        at.switch_page(page)
    if query:
        at.query_params.update(query)
    return at.run()


def ok(at: AppTest) -> None:
    """No exception and no error element on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def specs(at: AppTest) -> list[dict]:
    """The Plotly figure specs on the page."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


@dataclass(frozen=True)
class Shown:
    """One image on the page (``st.image``): its caption as sent (literal Markdown), alt text, and the SVG
    document when it is one (a ``data:image/svg+xml;base64`` URL), else ``""``."""

    caption: str
    alt: str
    svg: str


def images(at: AppTest) -> list[Shown]:
    """The images on the page, in order (every image of every ``st.image`` call)."""
    prefix = "data:image/svg+xml;base64,"
    return [Shown(im.caption, im.alt, base64.b64decode(im.url[len(prefix):]).decode() if im.url.startswith(prefix)
                  else "") for el in at.get("image") for im in el.proto.imgs]


def caption_text(shown: Shown) -> str:
    """An image's caption as the visitor reads it (Markdown escapes and invisible joiners removed)."""
    return re.sub(r"\\(.)", r"\1", shown.caption.replace("\u2060", ""))


def svg_pictures(svg: str) -> list[np.ndarray]:
    """The raster images embedded in an SVG document (``<image href="data:image/png;base64,...">``), decoded."""
    from PIL import Image

    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
            for data in re.findall(r'href="data:image/png;base64,([A-Za-z0-9+/=]+)"', svg)]


def title(spec: dict) -> str:
    """A figure's title text (the lines of a title broken for narrow windows joined by spaces)."""
    text = spec["layout"].get("title", "")
    text = text.get("text", "") if isinstance(text, dict) else str(text)
    return text.replace("<br>", " ")


def spec(at: AppTest, title_part: str) -> dict:
    """The first figure whose title contains ``title_part``."""
    found = [s for s in specs(at) if title_part in title(s)]
    assert found, f"no figure titled like {title_part!r} in {[title(s) for s in specs(at)]}"
    return found[0]


def metric(at: AppTest, label: str) -> str:
    """The value of the metric labelled ``label``."""
    return next(m.value for m in at.metric if m.label == label)
