"""Helpers shared by the AppTest suites: open the app, read its Plotly specs, metrics and errors."""

from __future__ import annotations

import json
from pathlib import Path

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
