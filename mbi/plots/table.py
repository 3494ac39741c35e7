"""The lookup table (memorization): its size (Fig. 4(a)), its keys decoded into patches, matches and distances."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, apply_layout
from mbi.plots.palette import COLORWAY


def table_size_curve(points: Sequence[dict],
                     title: str = "Lookup accuracy vs table size (Fig. 4(a))") -> go.Figure:
    """Unweighted vs BO-weighted lookup accuracy per table size (``SizePoint`` dicts)."""
    rows = [p["rows"] for p in points]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rows, y=[100 * p["unweighted_accuracy"] for p in points], name="unweighted (a=b=c)",
                             mode="lines+markers", line=dict(color=PAPER_COLOR)))
    fig.add_trace(go.Scatter(x=rows, y=[100 * p["weighted_accuracy"] for p in points], name="BO-weighted",
                             mode="lines+markers", line=dict(color=OURS_COLOR)))
    apply_layout(fig, title, "table rows", "lookup-only accuracy (%)")
    fig.update_xaxes(type="log")
    return fig


def budget_accuracy(points: Sequence[dict], current_rows: int | None = None,
                    paper_rows: tuple[float, float] | None = (85.85, 89.19),
                    title: str = "Lookup accuracy vs table size (Fig. 4(a))") -> go.Figure:
    """Lookup-only accuracy (%) per table size, one line per weighting, the current budget marked.

    ``points`` are ``mbi.inference.tablesize.BudgetPoint.to_dict()`` rows (``rows`` and ``accuracy_<name>``
    columns); ``paper_rows`` = the authors' unweighted and BO-weighted full-table accuracies (%).
    """
    names = [k[len("accuracy_"):] for k in (points[0] if points else {}) if k.startswith("accuracy_")]
    colors = {0: PAPER_COLOR, 1: OURS_COLOR}
    fig = go.Figure()
    rows = [p["rows"] for p in points]
    for i, name in enumerate(names):
        ys = [100 * p[f"accuracy_{name}"] for p in points]
        fig.add_trace(go.Scatter(x=rows, y=ys, mode="lines+markers", name=name,
                                 line=dict(color=colors.get(i, ACCENT_COLOR)),
                                 hovertemplate="%{x:,} rows: %{y:.2f}%<extra>" + name + "</extra>"))
        if current_rows is not None and current_rows in rows:
            j = rows.index(current_rows)
            fig.add_trace(go.Scatter(x=[current_rows], y=[ys[j]], mode="markers+text", showlegend=False,
                                     text=[f"{ys[j]:.2f}%"], textposition="middle left",
                                     marker=dict(size=14, symbol="diamond", color=colors.get(i, ACCENT_COLOR),
                                                 line=dict(width=1, color="white")), hoverinfo="skip"))
    if current_rows is not None:
        fig.add_vline(x=current_rows, line=dict(color="gray", dash="dash"), annotation_text="chosen budget")
    if paper_rows is not None:
        fig.add_annotation(xref="paper", yref="paper", x=0.99, y=0.02, showarrow=False, xanchor="right",
                           font=dict(color=PAPER_COLOR),
                           text=f"authors' code, whole table: {paper_rows[0]:.2f}% unweighted, "
                                f"{paper_rows[1]:.2f}% BO-weighted")
    apply_layout(fig, title, "table rows (log)", "lookup-only accuracy (%)")
    fig.update_xaxes(type="log")
    fig.update_layout(margin=dict(l=60, r=20, t=90, b=50))
    return fig


def budget_storage(points: Sequence[dict], current_rows: int | None = None,
                   title: str = "Table storage vs table size") -> go.Figure:
    """Storage (MB) of each budget: bit-packed binary keys + values, and thermometer-coded keys + values."""
    rows = [p["rows"] for p in points]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rows, y=[p["storage_bytes"] / 1e6 for p in points], mode="lines+markers",
                             name="binary keys + values", line=dict(color=OURS_COLOR),
                             hovertemplate="%{x:,} rows: %{y:.3f} MB<extra></extra>"))
    fig.add_trace(go.Scatter(x=rows, y=[p["storage_thermometer_bytes"] / 1e6 for p in points],
                             mode="lines+markers", name="thermometer keys + values (search array)",
                             line=dict(color=PAPER_COLOR, dash="dot"),
                             hovertemplate="%{x:,} rows: %{y:.3f} MB<extra></extra>"))
    if current_rows is not None:
        fig.add_vline(x=current_rows, line=dict(color="gray", dash="dash"))
    apply_layout(fig, title, "table rows (log)", "storage (MB, log)")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log", dtick=1)
    fig.update_layout(margin=dict(l=60, r=20, t=110, b=50))
    return fig


def recipe_tradeoff(points: Sequence[dict], current: str | None = None,
                    title: str = "Shifted replays: table size against lookups on shifted digits") -> go.Figure:
    """Lookup-only accuracy (%) against storage (MB) per table recipe, one line per perturbation group.

    ``points`` are :meth:`mbi.inference.tablesize.RecipePoint.to_dict` rows; the RAM's accuracy on each
    group is a dashed line of the same colour; ``current`` (a recipe's ``shifts``) is marked.
    """
    points = sorted(points, key=lambda p: p["storage_bytes"])
    groups = list(points[0]["accuracy"]) if points else []
    mb = [p["storage_bytes"] / 1e6 for p in points]
    labels = [f"{p['shifts']} ({p['rows']:,} rows)" for p in points]
    fig = go.Figure()
    for i, group in enumerate(groups):
        color = COLORWAY[i % len(COLORWAY)]
        ys = [100 * p["accuracy"][group] for p in points]
        fig.add_trace(go.Scatter(x=mb, y=ys, mode="lines+markers+text", name=f"lookup, {group}",
                                 line=dict(color=color), text=[p["shifts"] for p in points], textposition="top center",
                                 customdata=labels,
                                 hovertemplate="%{customdata}, %{x:.1f} MB: %{y:.2f}%<extra>" + group + "</extra>"))
        fig.add_hline(y=100 * points[0]["ram_accuracy"][group], line=dict(color=color, dash="dash", width=1),
                      annotation_text=f"RAM, {group}", annotation_position="bottom right")
    if current is not None:
        for p, x in zip(points, mb):
            if p["shifts"] == current:
                fig.add_vline(x=x, line=dict(color="gray", dash="dot"), annotation_text="this model's table")
    apply_layout(fig, title, "table storage (MB, binary keys + values, log)", "lookup-only accuracy (%)")
    fig.update_xaxes(type="log")
    return fig


def _patch_mosaic(rows: Sequence[np.ndarray], gap: float = np.nan) -> np.ndarray:
    """Patches ``[K, p, p]`` of several keys tiled into one array (keys top to bottom, one-cell gaps)."""
    rows = [np.asarray(r, dtype=float) for r in rows]
    k, p, q = rows[0].shape
    out = np.full((len(rows) * (p + 1) - 1, k * (q + 1) - 1), gap)
    for r, patches in enumerate(rows):
        for i in range(k):
            out[r * (p + 1): r * (p + 1) + p, i * (q + 1): i * (q + 1) + q] = patches[i]
    return out


def _mosaic_figure(items: Sequence[tuple[str, np.ndarray]], widths_px: Sequence[int], zmax: float, title: str,
                   text_levels: int | None = None) -> go.Figure:
    """One heatmap of every item's patches (fast to draw): item names on the left, patch widths on top."""
    names = [name for name, _ in items]
    arrays = [np.asarray(a, dtype=float) for _, a in items]
    k, p, q = arrays[0].shape
    z = _patch_mosaic(arrays)
    text = None
    if text_levels is not None and p <= 8:
        text = np.where(np.isnan(z), "", np.rint(np.nan_to_num(z)).astype(int).astype(str))
    fig = go.Figure(go.Heatmap(z=z, zmin=0, zmax=zmax, colorscale="gray", showscale=False, text=text,
                               texttemplate="%{text}" if text is not None else None, xgap=0, ygap=0,
                               hovertemplate="level %{z:.2f}<extra></extra>"))
    fig.update_xaxes(side="top", tickvals=[i * (q + 1) + (q - 1) / 2 for i in range(k)],
                     ticktext=[f"{w}x{w} px" for w in widths_px], showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(autorange="reversed", tickvals=[r * (p + 1) + (p - 1) / 2 for r in range(len(items))],
                     ticktext=names, showgrid=False, zeroline=False, scaleanchor="x")
    fig.update_layout(title=title, height=120 + 110 * len(items), margin=dict(l=20, r=20, t=90, b=10),
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig


def query_and_match(query: np.ndarray, match: np.ndarray, widths_px: Sequence[int], bits: int | None,
                    titles: tuple[str, str] = ("query", "matched key"),
                    title: str = "What the lookup read and the key it matched") -> go.Figure:
    """The query's patches (top row) over the matched key's (bottom row); arrays ``[K, p, p]`` in [0, 1].

    Cells show the quantizer level when ``bits`` is given.
    """
    levels = 1 if bits is None else 2**bits - 1
    return _mosaic_figure([(titles[0], np.asarray(query) * levels), (titles[1], np.asarray(match) * levels)],
                          widths_px, levels, title, text_levels=None if bits is None else levels)


def decoded_keys(items: Sequence[tuple[str, np.ndarray]], widths_px: Sequence[int], levels: int,
                 title: str = "Keys decoded into patches") -> go.Figure:
    """One row per key (or centroid): its patches, ``[K, p, p]`` in levels 0..``levels`` - 1 (fractional ok)."""
    return _mosaic_figure(items, widths_px, levels - 1, title)


def location_map(counts: np.ndarray, image: np.ndarray | None = None, image_size: int = 28,
                 title: str = "Where these keys looked") -> go.Figure:
    """Counts of keys per location grid cell (row, col), drawn on the pixel grid (optionally over a digit)."""
    counts = np.asarray(counts, dtype=float)
    g = counts.shape[0]
    px = np.round(np.arange(g) * (image_size - 1) / max(g - 1, 1))
    fig = go.Figure()
    if image is not None:
        fig.add_trace(go.Heatmap(z=np.asarray(image, dtype=float)[::-1], colorscale="gray_r", showscale=False,
                                 hoverinfo="skip", opacity=0.5))
    rr, cc = np.nonzero(counts)
    fig.add_trace(go.Scatter(x=px[cc], y=image_size - 1 - px[rr], mode="markers", showlegend=False,
                             marker=dict(size=6 + 24 * np.sqrt(counts[rr, cc] / max(counts.max(), 1)),
                                         color=ACCENT_COLOR, opacity=0.7),
                             customdata=np.stack([rr, cc, counts[rr, cc]], axis=1) if len(rr) else None,
                             hovertemplate="grid cell (%{customdata[0]}, %{customdata[1]}): "
                                           "%{customdata[2]} keys<extra></extra>"))
    apply_layout(fig, title, "column (px)", "row (px, flipped)")
    fig.update_xaxes(range=[-0.5, image_size - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, image_size - 0.5], scaleanchor="x")
    fig.update_layout(height=380)
    return fig


def step_distances(distances: Sequence[float], threshold: float | None = None,
                   title: str = "Matched distance per glimpse step") -> go.Figure:
    """Bars of the eq. (1) distance of each step's match; steps over ``threshold`` in the accent color."""
    d = np.asarray(distances, dtype=float)
    over = np.zeros(len(d), dtype=bool) if threshold is None else d > threshold
    fig = go.Figure(go.Bar(x=[str(t + 1) for t in range(len(d))], y=d,
                           marker_color=[ACCENT_COLOR if o else OURS_COLOR for o in over],
                           hovertemplate="glimpse %{x}: distance %{y:.3f}<extra></extra>"))
    if threshold is not None:
        fig.add_hline(y=threshold, line=dict(color=PAPER_COLOR, dash="dash"),
                      annotation_text=f"threshold {threshold:.2f}")
    return apply_layout(fig, title, "glimpse step", "distance (eq. (1))")
