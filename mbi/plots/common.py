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


def pipeline_diagram(stages: Sequence[dict], title: str = "The MBI pipeline") -> go.Figure:
    """Boxes joined by arrows, one per pipeline stage: dicts with ``name``, ``detail`` and ``ready`` (bool).

    Stages whose part of the core exists are filled; missing ones are outlined and marked "not yet".
    """
    n = len(stages)
    shapes, annotations = [], []  # one layout update: plotly re-validates every shape on each add_shape
    for i, stage in enumerate(stages):
        x0, x1 = i * 1.3, i * 1.3 + 1.0
        ready = bool(stage.get("ready", True))
        shapes.append(dict(type="rect", x0=x0, x1=x1, y0=0, y1=1, line=dict(color=OURS_COLOR, width=2),
                           fillcolor=OURS_COLOR if ready else "rgba(0,0,0,0)", opacity=0.85 if ready else 1.0))
        text = f"<b>{stage['name']}</b><br>{stage.get('detail', '')}" + ("" if ready else "<br><i>not yet</i>")
        annotations.append(dict(x=(x0 + x1) / 2, y=0.5, text=text, showarrow=False,
                                font=dict(size=12, color="white" if ready else OURS_COLOR)))
        if i < n - 1:
            annotations.append(dict(x=x1 + 0.28, y=0.5, ax=x1 + 0.02, ay=0.5, xref="x", yref="y", axref="x",
                                    ayref="y", text="", showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=2,
                                    arrowcolor=PAPER_COLOR))
    fig = go.Figure(layout=dict(shapes=shapes, annotations=annotations))
    fig.update_xaxes(visible=False, range=[-0.1, n * 1.3 - 0.2])
    fig.update_yaxes(visible=False, range=[-0.1, 1.1])
    fig.update_layout(title=title, height=190, margin=dict(l=10, r=10, t=40, b=10), paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)", showlegend=False)
    return fig
