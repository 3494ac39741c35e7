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

from mbi.plots.palette import ACCENT_COLOR, COLORWAY, GOOD_COLOR, HIGHLIGHT_COLOR, OURS_COLOR, PAPER_COLOR


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
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
    return _layout(fig, title, "normalized distance error (d_tree - d_bf) / d_max", "queries (%)")


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


# --------------------------------------------------------------------------- dashboard figures (issue 5)
# Appended for the dashboard pages; each builder takes plain results and returns a Figure.


def _pct(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else 100.0 * v for v in values]


def live_training(batch_points: Sequence[dict], epoch_points: Sequence[dict],
                  title: str = "Training progress") -> go.Figure:
    """Running training loss (left axis) and train/validation accuracy in % (right axis) against epochs.

    ``batch_points`` have ``x`` (fractional epoch), ``loss`` and ``train_acc``; ``epoch_points`` have
    ``x`` (epoch), ``loss``, ``train_acc`` and ``val_acc`` (None when not evaluated), as returned by
    ``mbi.runs.jobs.JobView.curves``.
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[p["x"] for p in batch_points], y=[p["loss"] for p in batch_points],
                             mode="lines", name="training loss (running mean)", line=dict(color=OURS_COLOR)))
    fig.add_trace(go.Scatter(x=[p["x"] for p in epoch_points], y=[p["loss"] for p in epoch_points],
                             mode="markers", name="training loss (epoch)", marker=dict(color=OURS_COLOR, size=8)))
    fig.add_trace(go.Scatter(x=[p["x"] for p in batch_points], y=_pct([p["train_acc"] for p in batch_points]),
                             mode="lines", name="training accuracy (%)", yaxis="y2",
                             line=dict(color=PAPER_COLOR, dash="dot")))
    fig.add_trace(go.Scatter(x=[p["x"] for p in epoch_points], y=_pct([p["val_acc"] for p in epoch_points]),
                             mode="lines+markers", name="validation accuracy (%)", yaxis="y2",
                             line=dict(color=ACCENT_COLOR)))
    _layout(fig, title, "epoch", "loss")
    fig.update_layout(yaxis2=dict(title="accuracy (%)", overlaying="y", side="right", range=[0, 100],
                                  tickmode="linear", tick0=0, dtick=20, showgrid=False),
                      margin=dict(l=60, r=60, t=90, b=50))
    fig.update_xaxes(rangemode="tozero")
    return fig


def runs_comparison(histories: dict[str, Sequence[dict]], title: str = "Validation accuracy of trained runs",
                    reference_pct: dict[str, float] | None = None) -> go.Figure:
    """Validation accuracy (%) per epoch of several runs (``metrics.json`` histories keyed by run name).

    ``reference_pct`` draws dashed horizontal lines, e.g. ``{"paper, 1-bit hidden": 96.0}``.
    """
    fig = go.Figure()
    for name, history in histories.items():
        pts = [h for h in history if h.get("val_acc") is not None]
        fig.add_trace(go.Scatter(x=[h["epoch"] for h in pts], y=[100 * h["val_acc"] for h in pts],
                                 mode="lines+markers", name=name))
    for label, value in (reference_pct or {}).items():
        fig.add_hline(y=value, line=dict(color=PAPER_COLOR, dash="dash"), annotation_text=label)
    _layout(fig, title, "epoch", "validation accuracy (%)")
    fig.update_layout(margin=dict(l=60, r=20, t=90, b=50))
    return fig


def sweep_one_at_a_time(rows: Sequence[dict], axes: Sequence[str], title: str,
                        labels: dict[str, str] | None = None) -> go.Figure:
    """One panel per swept knob: best validation accuracy (%) against the knob's values (paper Fig. 3(a)/(b)).

    ``rows`` are ``mbi.runs.sweep.results_table`` records with ``axis``, ``value``, ``val_acc`` and ``state``;
    unfinished trials are left out; ``None`` values (float, no quantizer) are shown as "float".
    """
    from plotly.subplots import make_subplots

    labels = labels or {}
    fig = make_subplots(rows=1, cols=max(1, len(axes)), shared_yaxes=True,
                        subplot_titles=[labels.get(a, a.replace("_", " ")) for a in axes])
    for i, axis in enumerate(axes, start=1):
        pts = [r for r in rows if r.get("axis") == axis and r.get("state") == "COMPLETE" and r.get("val_acc") is not None]
        numeric = all(isinstance(r["value"], (int, float)) and not isinstance(r["value"], bool) for r in pts)
        pts.sort(key=lambda r: (r["value"] is None, r["value"] if numeric else str(r["value"])))
        xs = [("float" if r["value"] is None else str(r["value"])) for r in pts]
        fig.add_trace(go.Scatter(x=xs, y=[100 * r["val_acc"] for r in pts], mode="lines+markers",
                                 name=labels.get(axis, axis), line=dict(color=OURS_COLOR), showlegend=False,
                                 hovertemplate=f"{axis} = %{{x}}<br>%{{y:.2f}}%<extra></extra>"), row=1, col=i)
        fig.update_xaxes(type="category", title_text="value", row=1, col=i)
    fig.update_yaxes(title_text="best validation accuracy (%)", row=1, col=1)
    fig.update_layout(title=title, margin=dict(l=60, r=20, t=80, b=50), paper_bgcolor="rgba(0,0,0,0)")
    return fig


def sweep_grid_lines(rows: Sequence[dict], x: str, series: str, title: str,
                     x_label: str | None = None, series_label: str | None = None) -> go.Figure:
    """Best validation accuracy (%) against knob ``x``, one line per value of knob ``series`` (paper Fig. 3(c))."""
    done = [r for r in rows if r.get("state") == "COMPLETE" and r.get("val_acc") is not None]
    fig = go.Figure()
    for s in sorted({r[series] for r in done}, key=lambda v: (v is None, v)):
        pts = sorted((r for r in done if r[series] == s), key=lambda r: r[x])
        fig.add_trace(go.Scatter(x=[r[x] for r in pts], y=[100 * r["val_acc"] for r in pts], mode="lines+markers",
                                 name=f"{series_label or series} = {s}"))
    _layout(fig, title, x_label or x.replace("_", " "), "best validation accuracy (%)")
    ticks = sorted({r[x] for r in done if isinstance(r[x], (int, float))})
    fig.update_xaxes(type="log", tickvals=ticks or None)
    fig.update_layout(margin=dict(l=60, r=20, t=90, b=50))
    return fig


def _glimpse_shapes(h: int, centre: Sequence[int], patch_size: int, scales: Sequence[int]) -> list[dict]:
    r, c = centre
    y = h - 1 - r
    shapes = []
    for k, s in enumerate(scales):
        w = patch_size * s
        x0 = c - w // 2 - 0.5
        y0 = y - (w - 1 - w // 2) - 0.5
        shapes.append(dict(type="rect", x0=x0, x1=x0 + w, y0=y0, y1=y0 + w,
                           line=dict(color=ACCENT_COLOR, width=3 if k == 0 else 1.5), opacity=0.95 - 0.2 * k))
    return shapes


def glimpse_animation(image: np.ndarray, centres: np.ndarray, patch_size: int, scales: Sequence[int],
                      readouts: Sequence[int] | None = None, title: str = "Glimpse path, step by step",
                      start: int = 0) -> go.Figure:
    """The digit with the RAM's glimpses animated one step per frame (Play button and step slider).

    Frame ``t`` draws the path up to glimpse ``t`` and the squares of glimpse ``t`` (one per patch,
    ``patch_size * scale`` px wide); ``readouts[t]`` (the class read from h_t) goes in the frame's title.
    ``centres`` has shape (T, 2) as (row, col) pixels; the figure opens on glimpse ``start`` (0-based).
    """
    img = np.asarray(image, dtype=float)
    h = img.shape[0]
    centres = np.asarray(centres)
    steps = len(centres)
    xs, ys = centres[:, 1], h - 1 - centres[:, 0]

    def frame_title(t: int) -> str:
        said = f": reads {int(readouts[t])}" if readouts is not None else ""
        return f"{title} (glimpse {t + 1}/{steps}{said})"

    start = int(min(max(start, 0), steps - 1))
    fig = go.Figure([
        go.Heatmap(z=img[::-1], colorscale="gray_r", showscale=False, hoverinfo="skip"),
        go.Scatter(x=xs[: start + 1], y=ys[: start + 1], mode="lines+markers+text",
                   text=[str(i + 1) for i in range(start + 1)], textposition="top right",
                   line=dict(color=ACCENT_COLOR), marker=dict(size=8), name="path"),
    ])
    frames = []
    for t in range(steps):
        frames.append(go.Frame(
            name=str(t + 1), traces=[1],
            data=[go.Scatter(x=xs[: t + 1], y=ys[: t + 1], text=[str(i + 1) for i in range(t + 1)])],
            layout=go.Layout(shapes=_glimpse_shapes(h, centres[t], patch_size, scales),
                             title=dict(text=frame_title(t)))))
    fig.frames = frames
    _layout(fig, frame_title(start), "column (px)", "row (px, flipped)")
    fig.update_layout(
        shapes=_glimpse_shapes(h, centres[start], patch_size, scales), showlegend=False,
        margin=dict(l=60, r=20, t=50, b=120), height=520,
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.2, xanchor="left", yanchor="top",
                          showactive=False, buttons=[
                              dict(label="Play", method="animate",
                                   args=[None, dict(frame=dict(duration=700, redraw=True), fromcurrent=True,
                                                    transition=dict(duration=0))]),
                              dict(label="Pause", method="animate",
                                   args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])],
        sliders=[dict(active=start, x=0.3, len=0.7, y=-0.14, yanchor="top", currentvalue=dict(prefix="glimpse "),
                      steps=[dict(label=str(t + 1), method="animate",
                                  args=[[str(t + 1)], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                             for t in range(steps)])])
    fig.update_xaxes(range=[-0.5, img.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, h - 0.5], scaleanchor="x", constrain="domain")
    return fig


def glimpse_patches(patches: np.ndarray, widths_px: Sequence[int], bits: int | None,
                    title: str = "What the RAM sees") -> go.Figure:
    """The quantized patches of one glimpse side by side, as the RAM reads them.

    ``patches`` has shape (K, p, p) with values in [0, 1] (``mbi.model.ram.Trace.patches[b, t]``); patch ``k``
    averages a ``widths_px[k]``-pixel square down to p x p. Cells show the quantizer level (0 .. 2**bits - 1).
    """
    from plotly.subplots import make_subplots

    patches = np.asarray(patches, dtype=float)
    k = len(patches)
    levels = None if bits is None else 2**bits - 1
    fig = make_subplots(rows=1, cols=k, horizontal_spacing=0.04,
                        subplot_titles=[f"{w}x{w} px" for w in widths_px])
    for i in range(k):
        z = patches[i][::-1]
        text = np.rint(z * levels).astype(int).astype(str) if levels is not None else np.round(z, 2).astype(str)
        fig.add_trace(go.Heatmap(z=z, zmin=0, zmax=1, colorscale="gray", showscale=i == k - 1, text=text,
                                 texttemplate="%{text}" if patches.shape[1] <= 8 else None,
                                 colorbar=dict(title="intensity (0-1)"),
                                 hovertemplate="level %{text}<extra></extra>"), row=1, col=i + 1)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=i + 1)  # the subplot titles name each patch
        fig.update_yaxes(visible=False, scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    q = "float (no quantizer)" if bits is None else f"{bits}-bit, {levels + 1} levels"
    fig.update_layout(title=f"{title} ({q})", margin=dict(l=20, r=20, t=80, b=40), paper_bgcolor="rgba(0,0,0,0)",
                      height=300)
    fig.add_annotation(text=f"each patch averaged down to {patches.shape[1]}x{patches.shape[2]}; cells show the level",
                       x=0.5, y=-0.12, xref="paper", yref="paper", showarrow=False, font=dict(size=11))
    return fig


def class_probabilities(probs: Sequence[float], label: int | None = None,
                        title: str = "Class probabilities after the last glimpse") -> go.Figure:
    """Bar chart of the 10 class probabilities (%); the true label, when known, in the accent color."""
    p = 100 * np.asarray(probs, dtype=float)
    colors = [ACCENT_COLOR if label is not None and i == label else OURS_COLOR for i in range(len(p))]
    fig = go.Figure(go.Bar(x=[str(i) for i in range(len(p))], y=p, marker_color=colors,
                           hovertemplate="class %{x}: %{y:.1f}%<extra></extra>"))
    _layout(fig, title, "class (highlighted bar = true label)" if label is not None else "class", "probability (%)")
    fig.update_yaxes(range=[0, 100])
    return fig


def digit_image(image: np.ndarray, title: str = "28x28 input") -> go.Figure:
    """A grayscale digit (dark ink on white, like the glimpse figures), pixel axes."""
    img = np.asarray(image, dtype=float)
    fig = go.Figure(go.Heatmap(z=img[::-1], colorscale="gray_r", showscale=False,
                               hovertemplate="row %{y}, col %{x}: %{z:.0f}<extra></extra>"))
    _layout(fig, title, "column (px)", "row (px, flipped)")
    fig.update_xaxes(range=[-0.5, img.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, img.shape[0] - 0.5], scaleanchor="x")
    return fig


def pipeline_diagram(stages: Sequence[dict], title: str = "The MBI pipeline") -> go.Figure:
    """Boxes joined by arrows, one per pipeline stage: dicts with ``name``, ``detail`` and ``ready`` (bool).

    Stages whose part of the core exists are filled; missing ones are outlined and marked "not yet".
    """
    fig = go.Figure()
    n = len(stages)
    for i, stage in enumerate(stages):
        x0, x1 = i * 1.3, i * 1.3 + 1.0
        ready = bool(stage.get("ready", True))
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=0, y1=1, line=dict(color=OURS_COLOR, width=2),
                      fillcolor=OURS_COLOR if ready else "rgba(0,0,0,0)", opacity=0.85 if ready else 1.0)
        text = f"<b>{stage['name']}</b><br>{stage.get('detail', '')}" + ("" if ready else "<br><i>not yet</i>")
        fig.add_annotation(x=(x0 + x1) / 2, y=0.5, text=text, showarrow=False,
                           font=dict(size=12, color="white" if ready else OURS_COLOR))
        if i < n - 1:
            fig.add_annotation(x=x1 + 0.28, y=0.5, ax=x1 + 0.02, ay=0.5, xref="x", yref="y", axref="x", ayref="y",
                               text="", showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=2,
                               arrowcolor=PAPER_COLOR)
    fig.update_xaxes(visible=False, range=[-0.1, n * 1.3 - 0.2])
    fig.update_yaxes(visible=False, range=[-0.1, 1.1])
    fig.update_layout(title=title, height=190, margin=dict(l=10, r=10, t=40, b=10), paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)", showlegend=False)
    return fig


def adc_errors_by_level(levels: Sequence[int], error_rate: Sequence[float], adc_bits: int,
                        title: str = "ADC wrong-code rate per distance level") -> go.Figure:
    """Share of reads (%) whose ADC code differs from the variation-free code, per distance level."""
    fig = go.Figure(go.Bar(x=list(levels), y=100 * np.asarray(error_rate, dtype=float), marker_color=ACCENT_COLOR,
                           hovertemplate="distance %{x}: %{y:.4f}% wrong codes<extra></extra>"))
    _layout(fig, f"{title} ({adc_bits}-bit ADC)", "distance level (differing bits)", "wrong ADC codes (% of reads)")
    return fig


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
    _layout(fig, title, "distance threshold (eq. (1) units)", "percent")
    return fig


def table_size_curve(points: Sequence[dict],
                     title: str = "Lookup accuracy vs table size (Fig. 4(a))") -> go.Figure:
    """Unweighted vs BO-weighted lookup accuracy per table size (``SizePoint`` dicts)."""
    rows = [p["rows"] for p in points]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rows, y=[100 * p["unweighted_accuracy"] for p in points], name="unweighted (a=b=c)",
                             mode="lines+markers", line=dict(color=PAPER_COLOR)))
    fig.add_trace(go.Scatter(x=rows, y=[100 * p["weighted_accuracy"] for p in points], name="BO-weighted",
                             mode="lines+markers", line=dict(color=OURS_COLOR)))
    _layout(fig, title, "table rows", "lookup-only accuracy (%)")
    fig.update_xaxes(type="log")
    return fig


def sum_line_gap_zoom(level: int, upper_v: np.ndarray, lower_v: np.ndarray, threshold_v: float | None = None,
                      title: str = "The closest pair of levels") -> go.Figure:
    """Histograms (log counts) of two neighbouring levels' sum-line voltages, where they come closest.

    ``upper_v`` holds the samples (V) of distance ``level`` (higher voltage), ``lower_v`` those of
    ``level + 1``; the eye between them (or their overlap, in the accent colour) is shaded and the ADC decision
    threshold (V), when given, is drawn. Rare slow cells show up as long tails on a log axis.
    """
    up, lo = 1e3 * np.asarray(upper_v, dtype=float), 1e3 * np.asarray(lower_v, dtype=float)
    edges = np.linspace(min(up.min(), lo.min()), max(up.max(), lo.max()), 81)
    fig = go.Figure()
    for values, name, color in ((lo, f"d = {level + 1}", PAPER_COLOR), (up, f"d = {level}", OURS_COLOR)):
        counts, _ = np.histogram(values, bins=edges)
        fig.add_trace(go.Bar(x=0.5 * (edges[:-1] + edges[1:]), y=np.where(counts > 0, counts, np.nan),
                             width=np.diff(edges), name=name, marker_color=color, opacity=0.75,
                             hovertemplate=f"{name}<br>%{{x:.2f}} mV: %{{y}} samples<extra></extra>"))
    gap = up.min() - lo.max()
    fig.add_vrect(x0=min(up.min(), lo.max()), x1=max(up.min(), lo.max()), line_width=0, opacity=0.25,
                  fillcolor=GOOD_COLOR if gap >= 0 else ACCENT_COLOR)
    if threshold_v is not None:
        fig.add_vline(x=1e3 * threshold_v, line=dict(color=ACCENT_COLOR, dash="dash"),
                      annotation_text="ADC threshold")
    verdict = f"eye {gap:.2f} mV" if gap >= 0 else f"overlap {-gap:.2f} mV"
    _layout(fig, f"{title}: d = {level} / {level + 1}, {verdict}", "(V_SLP + V_SLN) / 2 (mV)", "samples (log)")
    fig.update_layout(barmode="overlay", margin=dict(l=60, r=20, t=90, b=50))
    fig.update_yaxes(type="log")
    return fig


# --------------------------------------------------------------------------- lookup pages (issue 5, pages 3-7)


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


def class_breakdown_bars(rows: Sequence[dict], title: str = "Mixed MBI per class") -> go.Figure:
    """Per true class: share answered by lookup, mixed accuracy and the RAM's accuracy (%).

    ``rows`` are ``dataclasses.asdict`` of ``mbi.inference.mixed.ClassRow`` (None where a class has no images).
    """
    x = [str(r["label"]) for r in rows]
    fig = go.Figure()
    for key, name, color in (("lookup_share", "answered by lookup (%)", ACCENT_COLOR),
                             ("mixed_accuracy", "mixed accuracy (%)", OURS_COLOR),
                             ("ram_accuracy", "RAM accuracy (%)", PAPER_COLOR)):
        fig.add_trace(go.Bar(x=x, y=_pct([r[key] for r in rows]), name=name, marker_color=color,
                             customdata=[r["images"] for r in rows],
                             hovertemplate=f"class %{{x}} (%{{customdata}} images)<br>{name}: %{{y:.1f}}"
                                           "<extra></extra>"))
    _layout(fig, title, "true class", "percent")
    fig.update_layout(barmode="group", margin=dict(l=60, r=20, t=90, b=50))
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 105])
    return fig


def fallback_steps_bars(counts: Sequence[int], title: str = "Why images fell back to the RAM") -> go.Figure:
    """Images answered by the RAM, counted by the first glimpse step whose match was too far."""
    counts = np.asarray(counts)
    fig = go.Figure(go.Bar(x=[str(t + 1) for t in range(len(counts))], y=counts, marker_color=ACCENT_COLOR,
                           hovertemplate="glimpse %{x}: %{y} images<extra></extra>"))
    _layout(fig, f"{title}: {int(counts.sum())} images", "first glimpse step over the threshold", "images")
    return fig


def digit_gallery(images: Sequence[np.ndarray], titles: Sequence[str], marks: Sequence[Sequence[float]] | None = None,
                  cols: int = 6, title: str = "Examples") -> go.Figure:
    """Small multiples of 28x28 digits (dark ink on white) with a title each; ``marks`` (row, col) px get an x.

    Drawn as one tiled heatmap (fast), titles as annotations.
    """
    n = len(images)
    cols = max(1, min(cols, n)) if n else 1
    rows = max(1, -(-n // cols))
    h, w = (np.asarray(images[0]).shape if n else (28, 28))
    gap_x, gap_y = 4, 9  # pixels between tiles; the vertical gap holds the titles
    big = np.full((rows * (h + gap_y), cols * (w + gap_x) - gap_x), np.nan)
    fig = go.Figure()
    xs, ys = [], []
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        top, left = r * (h + gap_y) + gap_y, c * (w + gap_x)
        big[top: top + h, left: left + w] = np.asarray(img, dtype=float)
        fig.add_annotation(x=left + w / 2, y=top - 1, text=str(titles[i]), showarrow=False, yanchor="bottom",
                           font=dict(size=11))
        if marks is not None:
            ys.append(top + float(marks[i][0]))
            xs.append(left + float(marks[i][1]))
    fig.add_trace(go.Heatmap(z=big, colorscale="gray_r", showscale=False, hoverinfo="skip", zmin=0, zmax=255))
    if marks is not None:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(symbol="x", size=12, color=ACCENT_COLOR, line=dict(width=1))))
    fig.update_xaxes(visible=False, range=[-0.5, big.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[big.shape[0] - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(title=title, height=80 + 200 * rows, margin=dict(l=10, r=10, t=60, b=10),
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", showlegend=False)
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
    return _layout(fig, title, "glimpse step", "distance (eq. (1))")


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


def budget_accuracy(points: Sequence[dict], current_rows: int | None = None,
                    paper_rows: tuple[float, float] | None = (85.85, 89.19),
                    title: str = "Lookup accuracy vs table size (Fig. 4(a))") -> go.Figure:
    """Lookup-only accuracy (%) per table size, one line per weighting, the current budget marked.

    ``points`` are ``mbi.inference.budget.BudgetPoint.to_dict()`` rows (``rows`` and ``accuracy_<name>``
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
    _layout(fig, title, "table rows (log)", "lookup-only accuracy (%)")
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
    _layout(fig, title, "table rows (log)", "storage (MB, log)")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log", dtick=1)
    fig.update_layout(margin=dict(l=60, r=20, t=110, b=50))
    return fig


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
    lines = [HIGHLIGHT_COLOR if int(i) in path else "white" for i in keep]
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
    _layout(fig, title, "column (px)", "row (px, flipped)")
    fig.update_xaxes(range=[-0.5, image_size - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, image_size - 0.5], scaleanchor="x")
    fig.update_layout(height=380)
    return fig


from mbi.plots.teaching import two_paths  # noqa: E402 - the teaching figures build on the helpers above
