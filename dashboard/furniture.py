"""Page furniture: titles, friendly errors, figures, tables and downloads.
"""

from __future__ import annotations

import html
import io
import string
import textwrap
import zipfile
from pathlib import Path
from typing import Any, Callable

import plotly.graph_objects as go
import streamlit as st

from mbi import plots


USER_ERRORS = (ValueError, FileNotFoundError, OSError, RuntimeError)
"""What a page reports as a message instead of a traceback."""


def intro(title: str, text: str, figure: str | None = None) -> None:
    """Page title, two or three plain sentences, and the paper figure the page reproduces."""
    st.title(title)
    st.markdown(text)
    if figure:
        st.caption(f"Reproduces {figure} of Giacomini et al., arXiv 2307.07631.")


_MARKDOWN_ESCAPES = {ord(ch): "\\" + ch for ch in string.punctuation}
_JOINER = "\u2060"


def plain(text: object, limit: int = 400) -> str:
    """``text`` as literal Markdown: every ASCII punctuation mark backslash-escaped, line breaks and control
    characters turned into spaces, at most ``limit`` characters.

    For any text a visitor controls (a run name, an upload's name, a link's value, an error that may quote
    them) before it reaches ``st.markdown``/``st.warning``/``st.info``/a progress text: no link, image,
    HTML, icon or formatting can come from it (an invisible word joiner follows every ``:``, ``.`` and
    ``@``, so no bare URL is autolinked).
    """
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text)[:limit])
    # the Markdown renderer turns bare URLs, www. names and e-mail addresses into links even when their
    # punctuation is escaped: an invisible word joiner after every ':', '.' and '@' breaks those patterns
    return "".join(ch + _JOINER if ch in ":.@" else ch for ch in flat.translate(_MARKDOWN_ESCAPES))


def plotly_text(text: object, limit: int = 80) -> str:
    """``text`` for a Plotly title, legend or table cell (which read ``<a href>``, ``<br>`` and entities):
    HTML-escaped, control characters turned into spaces, at most ``limit`` characters."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text)[:limit])
    return html.escape(flat, quote=False)


def friendly(exc: BaseException) -> str:
    """One line for a user (no traceback), as literal Markdown (an error may quote what a visitor typed)."""
    text = str(exc).strip() or type(exc).__name__
    return plain(text, 400)


TITLE_CHARS = 44
"""Longest title line shown: about what a 390 px phone window holds at Plotly's title size."""


def fit_narrow(fig: go.Figure) -> go.Figure:
    """``fig`` made to read in a phone-width window (in place; idempotent): a long title broken into lines at
    word boundaries (Plotly does not wrap) with room made above the plot, and the tool bar stood up along the right
    edge, where it covers no title."""
    for layout in [fig.layout] + [frame.layout for frame in fig.frames if frame.layout is not None]:
        title = layout.title.text
        if title and "<br>" not in title and len(title) > TITLE_CHARS:
            layout.title.text = "<br>".join(textwrap.wrap(title, TITLE_CHARS))
            layout.title.automargin = True
    fig.update_layout(modebar_orientation="v")
    return fig


def plot(fig: go.Figure, key: str, download_name: str | None = None, **chart: Any) -> Any:
    """Show a figure full width (fitted to narrow windows); optionally offer it as a standalone HTML file.

    ``chart``: more arguments of ``st.plotly_chart`` (``on_select``, ``selection_mode``); returns what it returns.
    """
    shown = st.plotly_chart(fit_narrow(fig), key=key, config={"displaylogo": False}, **chart)
    if download_name:
        st.download_button("Download figure (HTML)", data=lambda: fig.to_html(include_plotlyjs=True),
                           file_name=f"{download_name}.html", mime="text/html", key=f"dl_{key}",
                           icon=":material/download:")
    return shown


def image(svg: str, caption: str, alt: str, width: str = "stretch") -> None:
    """A figure built as an SVG document (:mod:`mbi.plots.static`), shown as an image: drawn with no JavaScript
    chunk to load first (BENCHMARKS.md, cold start). ``caption`` (shown below it, literal) and ``alt`` (read
    by screen readers) carry its words; ``width`` is ``st.image``'s ("stretch": the column's, "content": its own)."""
    st.image(svg, caption=plain(caption), alt=alt, width=width)


def table(frame: Any, key: str, title: str = "", max_rows: int = 60) -> None:
    """A pandas DataFrame as a Plotly table (st.dataframe needs pyarrow, which this numpy 1.x stack lacks)."""
    shown = frame.head(max_rows)

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        if isinstance(value, float):
            return f"{value:.4g}"
        return plotly_text(value, 200)

    rows = [[cell(x) for x in row] for row in shown.itertuples(index=False)]
    fig = plots.table_figure([plotly_text(c) for c in shown.columns], rows, title)
    fig.update_layout(height=min(700, 45 + (50 if title else 0) + 22 * len(rows)))
    st.plotly_chart(fit_narrow(fig), key=key, config={"displaylogo": False})
    if len(frame) > max_rows:
        st.caption(f"First {max_rows} of {len(frame)} rows; download the CSV for all.")


def text_table(frame: Any) -> None:
    """A short table of words (a pandas DataFrame) as a Markdown table: text the browser lays out and wraps, with no
    Plotly figure to draw (a first view's figures are drawn together, so each one delays the first; BENCHMARKS.md,
    cold start). Every header and cell is literal (:func:`plain`); a missing value shows as "-"."""
    def cell(value: Any) -> str:
        return plain("-" if value is None or (isinstance(value, float) and value != value) else value, 200)

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    st.markdown("\n".join(lines))


def csv_download(frame: Any, name: str, key: str, label: str = "Download table (CSV)") -> None:
    """A CSV download button for a pandas DataFrame."""
    st.download_button(label, data=frame.to_csv(index=False).encode("utf-8"), file_name=f"{name}.csv",
                       mime="text/csv", key=key, icon=":material/download:")


def zip_folder(folder: Path, pattern: Callable[[Path], bool] | None = None) -> bytes:
    """A run folder's files (checkpoint, config, metrics) as zip bytes; temp files left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(folder).glob("*")):
            if path.is_file() and not path.name.startswith(".") and (pattern is None or pattern(path)):
                zf.write(path, arcname=f"{Path(folder).name}/{path.name}")
    return buffer.getvalue()
