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


def sum_line_distributions(levels: Sequence[int], voltages_v: np.ndarray, min_gap_v: float, gap_level: int,
                           title: str = "Sum-line voltage per distance level (Fig. 6(b))") -> go.Figure:
    """Histogram of ``(V_SLP + V_SLN) / 2`` for every distance level, with the smallest gap marked.

    ``voltages_v[i]`` holds the Monte Carlo samples (V) of level ``levels[i]``; the gap between
    ``gap_level`` and the next level (``min_gap_v``, negative when they overlap) is shaded.
    """
    v_mv = 1e3 * np.asarray(voltages_v, dtype=float)
    fig = go.Figure()
    for i, level in enumerate(levels):
        counts, edges = np.histogram(v_mv[i], bins=40)
        centers = 0.5 * (edges[:-1] + edges[1:])
        fig.add_trace(go.Scatter(x=centers, y=counts / counts.max(), mode="lines", fill="tozeroy", name=f"d={level}",
                                 line=dict(width=1, color=OURS_COLOR if i % 2 == 0 else PAPER_COLOR),
                                 hovertemplate=f"distance {level}<br>%{{x:.2f}} mV<extra></extra>"))
    g = list(levels).index(gap_level)
    lo, hi = v_mv[g + 1].max(), v_mv[g].min()
    fig.add_vrect(x0=min(lo, hi), x1=max(lo, hi), fillcolor=ACCENT_COLOR, opacity=0.3, line_width=0)
    fig.add_annotation(x=0.5 * (lo + hi), y=1.05, showarrow=False, font=dict(color=ACCENT_COLOR),
                       text=f"min gap {1e3 * min_gap_v:.1f} mV (d={gap_level}/{gap_level + 1})")
    _layout(fig, title, "(V_SLP + V_SLN) / 2 (mV)", "samples per bin (peak = 1)")
    fig.update_layout(showlegend=False)
    return fig


def energy_breakdown(components_j: dict[str, float],
                     title: str = "Energy per 32x32 key match (Fig. 6(c))") -> go.Figure:
    """Pie of the energy of one match by component (values in joules, shown in pJ and %)."""
    names = list(components_j)
    pj = [1e12 * components_j[n] for n in names]
    fig = go.Figure(go.Pie(labels=[n.replace("_", " ") for n in names], values=pj, sort=False,
                           texttemplate="%{label}<br>%{value:.2f} pJ (%{percent})", hole=0.35))
    fig.update_layout(title=f"{title}: {sum(pj):.2f} pJ", margin=dict(l=20, r=20, t=50, b=20),
                      paper_bgcolor="rgba(0,0,0,0)", showlegend=False)
    return fig


def table_figure(header: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> go.Figure:
    """A table (e.g. the paper's Table I) from display strings: ``rows[i][j]`` under ``header[j]``."""
    columns = [list(col) for col in zip(*rows)] if rows else [[] for _ in header]
    fig = go.Figure(go.Table(header=dict(values=list(header), align="left"),
                             cells=dict(values=columns, align="left")))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50 if title else 10, b=10), paper_bgcolor="rgba(0,0,0,0)")
    return fig


def _accuracy_lines(x: Sequence[float], accuracy_pct: Sequence[float] | dict[str, Sequence[float]],
                    exact_accuracy_pct: float | None, title: str, x_title: str) -> go.Figure:
    """Accuracy (%) against one non-ideality; several named series allowed; dashed line = exact search."""
    series = accuracy_pct if isinstance(accuracy_pct, dict) else {"circuit": accuracy_pct}
    fig = go.Figure()
    for name, ys in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(ys), mode="lines+markers", name=name))
    if exact_accuracy_pct is not None:
        fig.add_hline(y=exact_accuracy_pct, line=dict(color=PAPER_COLOR, dash="dash"),
                      annotation_text=f"exact distances {exact_accuracy_pct:.2f}%")
    return _layout(fig, title, x_title, "lookup accuracy (%)")


def accuracy_vs_sigma(sigma_mv: Sequence[float], accuracy_pct: Sequence[float] | dict[str, Sequence[float]],
                      exact_accuracy_pct: float | None = None,
                      title: str = "Lookup accuracy vs threshold-voltage variation") -> go.Figure:
    """Lookup accuracy (%) against sigma_VTH (mV); ``accuracy_pct`` is one list or {series name: list}."""
    return _accuracy_lines(sigma_mv, accuracy_pct, exact_accuracy_pct, title, "sigma_VTH (mV)")


def accuracy_vs_adc_bits(adc_bits: Sequence[int], accuracy_pct: Sequence[float] | dict[str, Sequence[float]],
                         exact_accuracy_pct: float | None = None,
                         title: str = "Lookup accuracy vs ADC resolution") -> go.Figure:
    """Lookup accuracy (%) against ADC resolution (bits); ``accuracy_pct`` is one list or {series name: list}."""
    fig = _accuracy_lines(adc_bits, accuracy_pct, exact_accuracy_pct, title, "ADC resolution (bits)")
    fig.update_xaxes(dtick=1)
    return fig


def distance_error_histogram(counts: Sequence[int], edges: Sequence[float], exact_share: float | None = None,
                             title: str = "Key distance error, tree vs brute force (Fig. 4(c))") -> go.Figure:
    """Share of queries (%) per bin of normalized distance error ``(d_tree - d_bf) / max distance``.

    ``counts``/``edges`` are ``SearchReport.hist_counts``/``hist_edges`` of ``mbi.search``; the
    paper's bound (error below 0.1) is marked, and ``exact_share`` (0..1) goes in the title.
    """
    counts = np.asarray(counts, dtype=float)
    edges = np.asarray(edges, dtype=float)
    pct = 100 * counts / max(counts.sum(), 1)
    fig = go.Figure(go.Bar(x=0.5 * (edges[:-1] + edges[1:]), y=pct, width=np.diff(edges), marker_color=OURS_COLOR,
                           customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                           hovertemplate="error %{customdata[0]:.3f}-%{customdata[1]:.3f}<br>%{y:.1f}% of queries"
                                         "<extra></extra>"))
    fig.add_vline(x=0.1, line=dict(color=PAPER_COLOR, dash="dash"), annotation_text="paper: max error < 0.1")
    if exact_share is not None:
        title = f"{title}: {100 * exact_share:.1f}% exact"
    return _layout(fig, title, "normalized distance error (d_tree - d_bf) / d_max", "queries (%)")


def search_tradeoff(points: Sequence[dict], title: str = "Tree search: comparisons vs exactness") -> go.Figure:
    """Share of queries that reach the brute-force distance (%) against comparisons per query (log axis).

    ``points`` are dicts with ``leaf_size``, ``checks``, ``mean_comparisons`` and ``exact_share``
    (``dataclasses.asdict`` of ``mbi.search.TradeoffPoint``); one line per leaf size, one marker per
    ``checks``.
    """
    fig = go.Figure()
    for leaf_size in sorted({p["leaf_size"] for p in points}):
        series = sorted((p for p in points if p["leaf_size"] == leaf_size), key=lambda p: p["checks"])
        fig.add_trace(go.Scatter(
            x=[p["mean_comparisons"] for p in series], y=[100 * p["exact_share"] for p in series],
            mode="lines+markers+text", text=[str(p["checks"]) for p in series], textposition="top left",
            name=f"leaf size {leaf_size}",
            hovertemplate="checks %{text}<br>%{x:.0f} comparisons<br>%{y:.1f}% exact<extra></extra>"))
    _layout(fig, title, "key-distance comparisons per query (log)", "queries with brute-force distance (%)")
    fig.update_xaxes(type="log")
    return fig


def kmeans_tree(parent: Sequence[int], size: Sequence[int], depth: Sequence[int], is_leaf: Sequence[bool],
                max_depth: int | None = 4, title: str = "Hierarchical k-means tree of keys (Fig. 4(b))") -> go.Figure:
    """Icicle of the key tree: node ``i`` has parent ``parent[i]`` (-1 for the root) and ``size[i]`` keys.

    The arrays are those of ``KMeansTree.summary()``; nodes deeper than ``max_depth`` are left out
    (a tree over the whole table has thousands of nodes). Leaves are drawn in the accent color.
    """
    parent, size = np.asarray(parent), np.asarray(size)
    depth, is_leaf = np.asarray(depth), np.asarray(is_leaf, dtype=bool)
    keep = np.flatnonzero(depth <= (depth.max() if max_depth is None else max_depth))
    fig = go.Figure(go.Icicle(
        ids=[str(i) for i in keep], parents=["" if parent[i] < 0 else str(parent[i]) for i in keep],
        values=size[keep], labels=[f"{size[i]} keys" for i in keep], branchvalues="total",
        marker=dict(colors=[ACCENT_COLOR if is_leaf[i] else OURS_COLOR for i in keep]),
        customdata=np.stack([depth[keep], is_leaf[keep]], axis=1),
        hovertemplate="node %{id}<br>depth %{customdata[0]}<br>%{value} keys<extra></extra>",
        tiling=dict(orientation="v")))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50, b=10), paper_bgcolor="rgba(0,0,0,0)")
    return fig
