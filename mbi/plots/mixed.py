"""Mixed MBI (paper Fig. 5): lookup with a fallback to the RAM."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, apply_layout, percent


def mixed_mbi_curve(points: Sequence[dict], current: float | None = None,
                    paper: tuple[float, float] | None = (69.65, 93.04),
                    title: str = "Mixed MBI (Fig. 5): accuracy and share answered by lookup") -> go.Figure:
    """Accuracy and lookup share vs threshold; ``points`` are ``MixedPoint`` dicts; ``paper`` = (share %, acc %)."""
    thr = [p["threshold"] for p in points]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=thr, y=[100 * p["accuracy"] for p in points], name="accuracy (%)",
                             mode="lines+markers", line=dict(color=OURS_COLOR)))
    fig.add_trace(go.Scatter(x=thr, y=[100 * p["lookup_share"] for p in points], name="images by lookup (%)",
                             mode="lines+markers", line=dict(color=ACCENT_COLOR, dash="dot")))
    if current is not None:
        fig.add_vline(x=current, line=dict(color="gray", dash="dash"), annotation_text="current threshold")
    if paper is not None:
        fig.add_annotation(xref="paper", yref="paper", x=0.99, y=0.02, showarrow=False, xanchor="right",
                           text=f"paper: {paper[1]:.2f}% accuracy with {paper[0]:.2f}% by lookup",
                           font=dict(color=PAPER_COLOR))
    apply_layout(fig, title, "distance threshold (eq. (1) units)", "percent")
    return fig


def mixed_mbi_marked(points: Sequence[dict], current: dict, paper: tuple[float, float] | None = (69.65, 93.04),
                     title: str = "Mixed MBI (Fig. 5): accuracy and share answered by lookup") -> go.Figure:
    """:func:`mixed_mbi_curve` with the current threshold's accuracy and lookup share marked.

    ``current`` is a ``MixedPoint`` dict (threshold, accuracy, lookup_share).
    """
    fig = mixed_mbi_curve(points, current["threshold"], paper, title)
    fig.add_trace(go.Scatter(x=[current["threshold"]] * 2,
                             y=[100 * current["accuracy"], 100 * current["lookup_share"]],
                             mode="markers+text", marker=dict(size=14, color=[OURS_COLOR, ACCENT_COLOR],
                                                              symbol="diamond", line=dict(width=1, color="white")),
                             text=[f"{100 * current['accuracy']:.2f}%", f"{100 * current['lookup_share']:.1f}%"],
                             textposition="middle right", name="current threshold", showlegend=False,
                             hovertemplate="threshold %{x:.2f}: %{y:.2f}%<extra></extra>"))
    fig.update_layout(margin=dict(l=60, r=20, t=90, b=50))
    return fig


def class_breakdown_bars(rows: Sequence[dict], title: str = "Mixed MBI per class",
                         class_names: Sequence[str] | None = None) -> go.Figure:
    """Per true class: share answered by lookup, mixed accuracy and the RAM's accuracy (%).

    ``rows`` are ``dataclasses.asdict`` of ``mbi.inference.mixed.ClassRow`` (None where a class has no images);
    classes are named ``class_names[label]`` when given, else by number.
    """
    x = [str(r["label"]) if class_names is None else str(class_names[r["label"]]) for r in rows]
    fig = go.Figure()
    for key, name, color in (("lookup_share", "answered by lookup (%)", ACCENT_COLOR),
                             ("mixed_accuracy", "mixed accuracy (%)", OURS_COLOR),
                             ("ram_accuracy", "RAM accuracy (%)", PAPER_COLOR)):
        fig.add_trace(go.Bar(x=x, y=percent([r[key] for r in rows]), name=name, marker_color=color,
                             customdata=[r["images"] for r in rows],
                             hovertemplate=f"class %{{x}} (%{{customdata}} images)<br>{name}: %{{y:.1f}}"
                                           "<extra></extra>"))
    apply_layout(fig, title, "true class", "percent")
    fig.update_layout(barmode="group", margin=dict(l=60, r=20, t=90, b=50))
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 105])
    return fig


def fallback_steps_bars(counts: Sequence[int], title: str = "Why images fell back to the RAM") -> go.Figure:
    """Images answered by the RAM, counted by the first glimpse step whose match was too far."""
    counts = np.asarray(counts)
    fig = go.Figure(go.Bar(x=[str(t + 1) for t in range(len(counts))], y=counts, marker_color=ACCENT_COLOR,
                           hovertemplate="glimpse %{x}: %{y} images<extra></extra>"))
    apply_layout(fig, f"{title}: {int(counts.sum())} images", "first glimpse step over the threshold", "images")
    return fig
