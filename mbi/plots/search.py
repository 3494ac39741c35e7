"""Searching the table: the k-means key tree (Fig. 4(b)), its distance error (Fig. 4(c)) and trade-off."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, apply_layout


def key_tree(parent: Sequence[int], size: Sequence[int], depth: Sequence[int], is_leaf: Sequence[bool],
             kind: str = "icicle", max_depth: int | None = 4, selected: int | None = None,
             title: str = "Hierarchical k-means tree of keys (Fig. 4(b))") -> go.Figure:
    """The key tree as an icicle, sunburst or treemap (``KMeansTree.summary()`` arrays; ids = node numbers).

    Nodes deeper than ``max_depth`` are left out; leaves are drawn in the accent color and the
    ``selected`` node (and its ancestors' path) is outlined.
    """
    if kind not in ("icicle", "sunburst", "treemap"):
        raise ValueError(f"kind must be icicle, sunburst or treemap, got {kind!r}")
    parent, size = np.asarray(parent), np.asarray(size)
    depth, is_leaf = np.asarray(depth), np.asarray(is_leaf, dtype=bool)
    keep = np.flatnonzero(depth <= (depth.max() if max_depth is None else max_depth))
    path = set()
    node = selected
    while node is not None and node >= 0:
        path.add(int(node))
        node = int(parent[node]) if node < len(parent) else -1
    colors = [ACCENT_COLOR if is_leaf[i] else OURS_COLOR for i in keep]
    widths = [3 if int(i) == selected else (1.5 if int(i) in path else 0.5) for i in keep]
    lines = ["#ffbf00" if int(i) in path else "white" for i in keep]
    trace_cls = {"icicle": go.Icicle, "sunburst": go.Sunburst, "treemap": go.Treemap}[kind]
    extra = {"tiling": dict(orientation="v")} if kind == "icicle" else {}
    fig = go.Figure(trace_cls(
        ids=[str(i) for i in keep], parents=["" if parent[i] < 0 else str(parent[i]) for i in keep],
        values=size[keep], labels=[f"#{i}: {size[i]}" for i in keep], branchvalues="total",
        marker=dict(colors=colors, line=dict(color=lines, width=widths)),
        customdata=np.stack([depth[keep], is_leaf[keep].astype(int)], axis=1),
        hovertemplate="node %{id}<br>depth %{customdata[0]}<br>%{value} keys<extra></extra>",
        maxdepth=-1, **extra))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50, b=10), paper_bgcolor="rgba(0,0,0,0)", height=520)
    return fig


def distance_error_histogram(counts: Sequence[int], edges: Sequence[float], exact_share: float | None = None,
                             title: str = "Key distance error, tree vs brute force (Fig. 4(c))") -> go.Figure:
    """Share of queries (%) per bin of normalized distance error ``(d_tree - d_bf) / max distance``.

    ``counts``/``edges`` are ``SearchReport.hist_counts``/``hist_edges`` of ``mbi.search.searchers``; the
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
    return apply_layout(fig, title, "normalized distance error (d_tree - d_bf) / d_max", "queries (%)")


def search_tradeoff(points: Sequence[dict], title: str = "Tree search: comparisons vs exactness") -> go.Figure:
    """Share of queries that reach the brute-force distance (%) against comparisons per query (log axis).

    ``points`` are dicts with ``leaf_size``, ``checks``, ``mean_comparisons`` and ``exact_share``
    (``dataclasses.asdict`` of ``mbi.search.searchers.TradeoffPoint``); one line per leaf size, one marker per
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
    apply_layout(fig, title, "key-distance comparisons per query (log)", "queries with brute-force distance (%)")
    fig.update_xaxes(type="log")
    return fig
