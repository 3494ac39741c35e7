"""Training the RAM and sweeping its hyperparameters (paper Fig. 3)."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, apply_layout, percent


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
    fig.add_trace(go.Scatter(x=[p["x"] for p in batch_points], y=percent([p["train_acc"] for p in batch_points]),
                             mode="lines", name="training accuracy (%)", yaxis="y2",
                             line=dict(color=PAPER_COLOR, dash="dot")))
    fig.add_trace(go.Scatter(x=[p["x"] for p in epoch_points], y=percent([p["val_acc"] for p in epoch_points]),
                             mode="lines+markers", name="validation accuracy (%)", yaxis="y2",
                             line=dict(color=ACCENT_COLOR)))
    apply_layout(fig, title, "epoch", "loss")
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
    apply_layout(fig, title, "epoch", "validation accuracy (%)")
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
    apply_layout(fig, title, x_label or x.replace("_", " "), "best validation accuracy (%)")
    ticks = sorted({r[x] for r in done if isinstance(r[x], (int, float))})
    fig.update_xaxes(type="log", tickvals=ticks or None)
    fig.update_layout(margin=dict(l=60, r=20, t=90, b=50))
    return fig
