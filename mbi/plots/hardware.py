"""The SRAM search array: sum-line levels (Fig. 6(b)), ADC errors, energy (Fig. 6(c)), non-idealities."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, apply_layout


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
    apply_layout(fig, title, "(V_SLP + V_SLN) / 2 (mV)", "samples per bin (peak = 1)")
    fig.update_layout(showlegend=False)
    return fig


def sum_line_gap_zoom(level: int, upper_v: np.ndarray, lower_v: np.ndarray, threshold_v: float | None = None,
                      title: str = "The closest pair of levels") -> go.Figure:
    """Histograms (log counts) of two neighbouring levels' sum-line voltages, where they come closest.

    ``upper_v`` holds the samples (V) of distance ``level`` (higher voltage), ``lower_v`` those of
    ``level + 1``; the eye between them (or their overlap, in red) is shaded and the ADC decision
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
                  fillcolor="#2ca02c" if gap >= 0 else ACCENT_COLOR)
    if threshold_v is not None:
        fig.add_vline(x=1e3 * threshold_v, line=dict(color=ACCENT_COLOR, dash="dash"),
                      annotation_text="ADC threshold")
    verdict = f"eye {gap:.2f} mV" if gap >= 0 else f"overlap {-gap:.2f} mV"
    apply_layout(fig, f"{title}: d = {level} / {level + 1}, {verdict}", "(V_SLP + V_SLN) / 2 (mV)", "samples (log)")
    fig.update_layout(barmode="overlay", margin=dict(l=60, r=20, t=90, b=50))
    fig.update_yaxes(type="log")
    return fig


def adc_errors_by_level(levels: Sequence[int], error_rate: Sequence[float], adc_bits: int,
                        title: str = "ADC wrong-code rate per distance level") -> go.Figure:
    """Share of reads (%) whose ADC code differs from the variation-free code, per distance level."""
    fig = go.Figure(go.Bar(x=list(levels), y=100 * np.asarray(error_rate, dtype=float), marker_color=ACCENT_COLOR,
                           hovertemplate="distance %{x}: %{y:.4f}% wrong codes<extra></extra>"))
    apply_layout(fig, f"{title} ({adc_bits}-bit ADC)", "distance level (differing bits)", "wrong ADC codes (% of reads)")
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
    return apply_layout(fig, title, x_title, "lookup accuracy (%)")


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
