"""Robustness and gates: MBI on perturbed digits, the RAM and lookup paths parting ways, and gate curves."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, apply_layout, percent
from mbi.plots.glimpses import digit_image
from mbi.plots.palette import GOOD_COLOR as MIXED_COLOR, LOOKUP_COLOR


def robustness_bars(rows: Sequence[dict], groups: Sequence[dict] | None = None,
                    title: str = "RAM, lookup-only and mixed MBI on perturbed digits") -> go.Figure:
    """Accuracy of the three ways of answering per perturbation, and the share mixed MBI answers by lookup.

    ``rows`` are ``dataclasses.asdict`` of :class:`mbi.inference.robustness.RobustnessRow`; with
    ``groups`` (:func:`mbi.inference.robustness.group_means`) the bars show the group means instead
    (the 4 directions of a shift pooled) and ``rows`` only feed the hover text. Where the rows have
    the learned gate's mixed MBI (``learned_accuracy``), it gets a bar and a share line of its own, and where they
    have it with the fused fallback (``fused_accuracy``), a bar too (the same share by lookup).
    """
    items = list(groups) if groups else list(rows)
    x = [r["group"] if groups else r["perturbation"] for r in items]
    learned = bool(items) and all(r.get("learned_accuracy") is not None for r in items)
    fig = go.Figure()
    bars = [("ram_accuracy", "RAM", PAPER_COLOR), ("lookup_accuracy", "lookup-only", ACCENT_COLOR),
            ("mixed_accuracy", "mixed, distance gate" if learned else "mixed", MIXED_COLOR)]
    if learned:
        bars.append(("learned_accuracy", "mixed, learned gate", OURS_COLOR))
    if learned and all(r.get("fused_accuracy") is not None for r in items):
        bars.append(("fused_accuracy", "mixed, learned gate, fused fallback", LOOKUP_COLOR))
    for key, name, color in bars:
        fig.add_trace(go.Bar(x=x, y=percent([r[key] for r in items]), name=f"{name} accuracy (%)", marker_color=color,
                             text=[f"{100 * r[key]:.1f}" for r in items], textposition="outside",
                             hovertemplate=f"%{{x}}<br>{name}: %{{y:.2f}}%<extra></extra>"))
    shares = [("lookup_share", "mixed" + (", distance gate" if learned else ""), MIXED_COLOR)]
    if learned:
        shares.append(("learned_lookup_share", "mixed, learned gate", OURS_COLOR))
    for key, name, color in shares:
        fig.add_trace(go.Scatter(x=x, y=percent([r[key] for r in items]), name=f"{name}: answered by lookup (%)",
                                 mode="lines+markers", line=dict(color=color, dash="dot"),
                                 hovertemplate=f"%{{x}}<br>{name}, by lookup: %{{y:.1f}}%<extra></extra>"))
    n = items[0]["images"] if items and "images" in items[0] else (rows[0]["images"] if rows else 0)
    apply_layout(fig, f"{title} ({n:,} images each)" if n else title, "perturbation", "percent")
    fig.update_layout(barmode="group", margin=dict(l=60, r=20, t=90, b=50))
    fig.update_xaxes(type="category")
    lows = [100 * min(r[key] for key in [b[0] for b in bars] + [s[0] for s in shares]) for r in items]
    fig.update_yaxes(range=[max(0.0, (min(lows) if lows else 0.0) - 10.0), 103])
    return fig


def parting_paths(image: np.ndarray, ram_centres: np.ndarray, lookup_centres: np.ndarray,
                  ram_classes: Sequence[int | str], lookup_classes: Sequence[int | str],
                  title: str = "The RAM's path and the lookup's path") -> go.Figure:
    """A (perturbed) digit with the glimpse centres of the RAM and of the lookups, step by step.

    ``*_centres`` are ``[T, 2]`` pixel (row, col); ``*_classes`` the class each path reads after each step
    (a number or a class name).
    Where the two paths share a centre the markers overlap; the first step where they differ is marked.
    """
    img = np.asarray(image)
    h = img.shape[0]
    fig = digit_image(img, title)
    ram_c, look_c = np.asarray(ram_centres, dtype=float), np.asarray(lookup_centres, dtype=float)
    for centres, classes, name, color, symbol in ((ram_c, ram_classes, "RAM", OURS_COLOR, "circle"),
                                                  (look_c, lookup_classes, "lookup", ACCENT_COLOR, "x")):
        steps = np.arange(1, len(centres) + 1)
        fig.add_trace(go.Scatter(
            x=centres[:, 1], y=h - 1 - centres[:, 0], mode="lines+markers+text", name=f"{name} path",
            text=[str(s) for s in steps], textposition="top center", textfont=dict(color=color),
            marker=dict(size=13, color=color, symbol=symbol, line=dict(width=1, color="white")),
            line=dict(color=color, width=2, dash="solid" if name == "RAM" else "dot"),
            customdata=np.stack([steps, np.asarray(classes)], axis=1),
            hovertemplate=f"{name}, step %{{customdata[0]}}: centre row %{{y}}, col %{{x}}; reads class "
                          "%{customdata[1]}<extra></extra>"))
    apart = np.flatnonzero(np.any(ram_c != look_c, axis=1))
    if len(apart):
        t = int(apart[0])
        fig.add_annotation(x=look_c[t, 1], y=h - 1 - look_c[t, 0], text=f"paths part at step {t + 1}",
                           showarrow=True, arrowhead=2, ax=30, ay=-30, font=dict(color=ACCENT_COLOR))
    fig.update_layout(showlegend=True)
    return fig


def gate_curves(curves: Mapping[str, Sequence[dict]], marks: Mapping[str, dict] | None = None,
                ram_accuracy: float | None = None,
                title: str = "Mixed MBI: accuracy against the share answered by lookup, per gate") -> go.Figure:
    """One accuracy-vs-lookup-share line per gate (``curves[name]``: :class:`mbi.inference.gate.GatePoint` dicts).

    ``marks[name]`` (a point dict) marks the current setting of that gate; ``ram_accuracy`` draws the RAM's.
    """
    colors = {"distance": PAPER_COLOR, "learned": OURS_COLOR}
    fig = go.Figure()
    for name, points in curves.items():
        color = colors.get(name, ACCENT_COLOR)
        fig.add_trace(go.Scatter(x=percent([p["lookup_share"] for p in points]), y=percent([p["accuracy"] for p in points]),
                                 mode="lines", name=f"{name} gate", line=dict(color=color, width=2),
                                 customdata=[p["threshold"] for p in points],
                                 hovertemplate=f"{name} gate, threshold %{{customdata:.4g}}: %{{y:.2f}}% with "
                                               "%{x:.1f}% by lookup<extra></extra>"))
        if marks and name in marks:
            p = marks[name]
            fig.add_trace(go.Scatter(x=[100 * p["lookup_share"]], y=[100 * p["accuracy"]], mode="markers+text",
                                     marker=dict(size=13, color=color, symbol="diamond", line=dict(width=1, color="white")),
                                     text=[f"{100 * p['accuracy']:.2f}%"], textposition="bottom left",
                                     name=f"{name}: current", showlegend=False,
                                     hovertemplate=f"{name} gate now: %{{y:.2f}}% with %{{x:.1f}}% by lookup<extra></extra>"))
    if ram_accuracy is not None:
        fig.add_hline(y=100 * ram_accuracy, line=dict(color="gray", dash="dash"), annotation_text="RAM alone")
    apply_layout(fig, title, "answered by lookup (% of images)", "mixed accuracy (%)")
    fig.update_xaxes(range=[50, 100.5])
    lows = [100 * p["accuracy"] for pts in curves.values() for p in pts if p["lookup_share"] >= 0.5]
    fig.update_yaxes(range=[(min(lows) if lows else 90.0) - 0.5, 100.0])
    return fig
