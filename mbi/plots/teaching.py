"""Figures of the teaching views: the RAM's path and the lookup's path drawn over the same digit."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mbi.plots.common import apply_layout
from mbi.plots.glimpses import _glimpse_shapes
from mbi.plots.palette import ACCENT_COLOR, LOOKUP_COLOR, OURS_COLOR


def two_paths(image: np.ndarray, ram_centres: np.ndarray, lookup_centres: np.ndarray, step: int,
              patch_size: int, scales: Sequence[int], split: int | None = None,
              title: str = "Where the RAM and the lookup look") -> go.Figure:
    """A 28x28 digit with both glimpse paths up to glimpse ``step`` (1-based).

    ``ram_centres`` and ``lookup_centres`` are ``[T, 2]`` pixel centres (row, col); the RAM's path is
    solid with circles, the lookup's dashed with diamonds (told apart by shape as well as colour), and
    the squares (in the RAM's colour) are what the RAM reads at glimpse ``step``. ``split`` (1-based, or None) is the first
    step where the two read different cells; it is ringed and named in the legend.
    """
    img = np.asarray(image, dtype=float)
    h = img.shape[0]
    upto = int(min(max(step, 1), len(ram_centres)))
    fig = go.Figure(go.Heatmap(z=img[::-1], colorscale="gray_r", showscale=False, hoverinfo="skip"))
    for name, centres, color, dash, symbol in (("RAM path", ram_centres, OURS_COLOR, "solid", "circle"),
                                               ("lookup path", lookup_centres, LOOKUP_COLOR, "dash", "diamond")):
        c = np.asarray(centres)[:upto]
        fig.add_trace(go.Scatter(x=c[:, 1], y=h - 1 - c[:, 0], mode="lines+markers+text", name=name,
                                 text=[str(i + 1) for i in range(len(c))], textposition="top right",
                                 line=dict(color=color, dash=dash, width=3), marker=dict(size=11, symbol=symbol),
                                 hovertemplate=f"{name}, glimpse %{{text}}: row %{{customdata[0]}}, "
                                               "column %{customdata[1]} px<extra></extra>",
                                 customdata=c))
    if split is not None and split <= upto:
        for centres in (ram_centres, lookup_centres):
            r, c = np.asarray(centres)[split - 1]
            fig.add_trace(go.Scatter(x=[c], y=[h - 1 - r], mode="markers", showlegend=centres is ram_centres,
                                     name=f"paths part at glimpse {split}", hoverinfo="skip",
                                     marker=dict(size=24, symbol="circle-open", color=ACCENT_COLOR,
                                                 line=dict(width=3))))
    apply_layout(fig, f"{title} (glimpse {upto} of {len(ram_centres)})", "column (px)", "row (px, flipped)")
    squares = [dict(shape, line=dict(shape["line"], color=OURS_COLOR))  # the RAM's squares, in the RAM's colour
               for shape in _glimpse_shapes(h, np.asarray(ram_centres)[upto - 1], patch_size, scales)]
    fig.update_layout(shapes=squares, height=460,
                      legend=dict(orientation="h", yanchor="top", y=-0.15, x=0), margin=dict(l=60, r=20, t=60, b=90))
    fig.update_xaxes(range=[-0.5, img.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, h - 0.5], scaleanchor="x", constrain="domain")
    return fig


__all__ = ["two_paths"]
