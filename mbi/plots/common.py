"""Shared look of every figure: colours (from :mod:`.palette`), the common layout, tables and the pipeline diagram."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from mbi.plots.palette import ACCENT_COLOR, COLORWAY, OURS_COLOR, PAPER_COLOR  # the colours' one owner


def apply_layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    """Shared layout: title, axis labels with units, compact margins, transparent background."""
    fig.update_layout(
        title=dict(text=title, y=0.98, yanchor="top"),
        xaxis_title=x,
        yaxis_title=y,
        margin=dict(l=60, r=20, t=80, b=50),
        paper_bgcolor="rgba(0,0,0,0)",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        colorway=COLORWAY,
    )
    return fig


def percent(values: Sequence[float | None]) -> list[float | None]:
    """Shares (0..1) as percentages, keeping ``None`` (a missing value) as a gap in the line."""
    return [None if v is None else 100.0 * v for v in values]


def table_figure(header: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> go.Figure:
    """A table (e.g. the paper's Table I) from display strings: ``rows[i][j]`` under ``header[j]``."""
    columns = [list(col) for col in zip(*rows)] if rows else [[] for _ in header]
    fig = go.Figure(go.Table(header=dict(values=list(header), align="left"),
                             cells=dict(values=columns, align="left")))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50 if title else 10, b=10), paper_bgcolor="rgba(0,0,0,0)")
    return fig
