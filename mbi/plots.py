"""Every figure of the product, built once: results in, ``plotly.graph_objects.Figure`` out.

These are pure functions used by the dashboard pages, the CLI and the
``reproduce`` report alike. They never compute the science themselves; they
draw what the ``mbi`` modules return. Axes carry units, and the default
template stays readable on light and dark backgrounds.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

PAPER_COLOR = "#9e9e9e"
OURS_COLOR = "#1f77b4"
ACCENT_COLOR = "#d62728"


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    """Shared layout: title, axis labels with units, compact margins, transparent background."""
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        margin=dict(l=60, r=20, t=50, b=50),
        paper_bgcolor="rgba(0,0,0,0)",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


def training_curves(history: Sequence[dict]) -> go.Figure:
    """Loss and validation accuracy per epoch of one training run (``metrics.json`` history)."""
    epochs = [h["epoch"] for h in history]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs, y=[h["train_loss"] for h in history], name="training loss", yaxis="y"))
    fig.add_trace(
        go.Scatter(x=epochs, y=[100 * h["val_acc"] for h in history], name="validation accuracy (%)", yaxis="y2")
    )
    _layout(fig, "Training", "epoch", "loss")
    fig.update_layout(yaxis2=dict(title="validation accuracy (%)", overlaying="y", side="right"))
    return fig


def glimpse_path(image: np.ndarray, centers: np.ndarray, patch_size: int, scales: Sequence[int],
                 title: str = "Glimpse path") -> go.Figure:
    """A digit with the glimpse centers (pixels, row/col) and the squares each patch covers.

    ``centers`` has shape (T, 2) as (row, col) pixel coordinates; ``scales`` lists the
    width multiplier of each patch (1, s, s^2, ...).
    """
    fig = go.Figure(go.Heatmap(z=np.asarray(image, dtype=float)[::-1], colorscale="gray_r", showscale=False))
    h = image.shape[0]
    for t, (r, c) in enumerate(np.asarray(centers)):
        y = h - 1 - r
        for k, s in enumerate(scales):
            w = patch_size * s
            x0 = c - w // 2 - 0.5
            y0 = y - (w - 1 - w // 2) - 0.5
            fig.add_shape(type="rect", x0=x0, x1=x0 + w, y0=y0, y1=y0 + w,
                          line=dict(color=ACCENT_COLOR, width=2 if k == 0 else 1), opacity=0.9 - 0.25 * k)
        fig.add_annotation(x=c, y=y, text=str(t + 1), showarrow=False, font=dict(color=ACCENT_COLOR, size=14))
    fig.add_trace(go.Scatter(x=np.asarray(centers)[:, 1], y=h - 1 - np.asarray(centers)[:, 0],
                             mode="lines+markers", line=dict(color=ACCENT_COLOR), name="path"))
    _layout(fig, title, "column (px)", "row (px, flipped)")
    fig.update_xaxes(range=[-0.5, image.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, h - 0.5], scaleanchor="x")
    fig.update_layout(showlegend=False)
    return fig
