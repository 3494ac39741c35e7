"""Model size: lookup cost stays flat while the network grows (the title claim of the paper, measured)."""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, PAPER_COLOR, percent

COSTS = (  # (row, label, RAM column, lookup column, unit)
    (1, "operations", "macs_per_image", "lookup_comparisons", "per image"),
    (2, "time", "ram_batched_s", "lookup_batched_s", "s per image"),
    (3, "energy", "cim_energy_j", "mbi_energy_j", "J per inference"),
)


def _lookup_comparisons(row: dict[str, Any]) -> float:
    """Key comparisons per inference of the tree traversal (one lookup per glimpse)."""
    return row["tree_comparisons_per_lookup"] * row["ram"]["num_glimpses"]


def model_size_figure(rows: Sequence[dict[str, Any]], summary: dict[str, Any], selected: str | None = None,
                      title: str = "Model size: the network's cost grows, the lookup's stays flat") -> go.Figure:
    """Two panels of a model-size family (rows of :func:`mbi.runs.scaling.collect`, smallest first).

    Left, log-log against the RAM's MACs per image: three cost pairs in shared units (operations: MACs vs
    key comparisons; seconds per image in software, batched; energy per inference: the network on a CIM
    macro vs MBI's measured traversal), with the first member whose lookups beat the network in software
    and the factors at the largest member marked. Right: test accuracy of the RAM, lookup-only and mixed MBI
    per member. ``selected`` (a member name) is ringed on both panels.
    """
    fig = make_subplots(rows=3, cols=2, shared_xaxes=True, column_widths=[0.58, 0.42], horizontal_spacing=0.1,
                        vertical_spacing=0.06, specs=[[{}, {"rowspan": 3}], [{}, None], [{}, None]],
                        subplot_titles=("cost per inference (log-log)", "test accuracy", "", ""))
    if not rows:
        fig.update_layout(title=title)
        return fig
    x = [r["macs_per_image"] for r in rows]
    names = [r["member"] for r in rows]
    for row, label, ram_col, lookup_col, unit in COSTS:
        lookup = [_lookup_comparisons(r) if lookup_col == "lookup_comparisons" else r[lookup_col] for r in rows]
        ram = [r[ram_col] for r in rows]
        ram_name = {"operations": "RAM MACs", "time": "RAM time", "energy": f"RAM on {rows[0]['cim_macro']}"}[label]
        lookup_name = {"operations": "lookup comparisons", "time": "lookup time",
                       "energy": "MBI (measured traversal)"}[label]
        fig.add_trace(go.Scatter(x=x, y=ram, name=ram_name, mode="lines+markers", text=names,
                                 line=dict(color=ACCENT_COLOR, dash=["solid", "dash", "dot"][row - 1]),
                                 hovertemplate="%{text}: %{y:.3g} " + unit + "<extra>" + ram_name + "</extra>"),
                      row=row, col=1)
        fig.add_trace(go.Scatter(x=x, y=lookup, name=lookup_name, mode="lines+markers", text=names,
                                 line=dict(color=OURS_COLOR, dash=["solid", "dash", "dot"][row - 1]),
                                 hovertemplate="%{text}: %{y:.3g} " + unit + "<extra>" + lookup_name + "</extra>"),
                      row=row, col=1)
        fig.update_yaxes(type="log", title_text=f"{label} ({unit})", row=row, col=1)
        if selected in names:
            i = names.index(selected)
            fig.add_trace(go.Scatter(x=[x[i], x[i]], y=[ram[i], lookup[i]], mode="markers", showlegend=False,
                                     marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color="black")),
                                     hoverinfo="skip"), row=row, col=1)
    for row in (1, 2, 3):
        fig.update_xaxes(type="log", row=row, col=1)
    fig.update_xaxes(title_text="RAM MACs per image", row=3, col=1)
    beats = summary.get("lookup_beats_ram_from")
    if beats in names:
        i = names.index(beats)
        fig.add_trace(go.Scatter(x=[x[i]], y=[rows[i]["lookup_batched_s"]], mode="markers+text",
                                 name="lookups beat the RAM from here", text=[f"lookups faster from {beats}"],
                                 textposition="bottom right", marker=dict(symbol="star", size=14, color=PAPER_COLOR),
                                 hoverinfo="skip"), row=2, col=1)
    fig.add_annotation(xref="x4 domain", yref="y4 domain", x=1, y=0.02, showarrow=False, xanchor="right",
                       yanchor="bottom",
                       text=(f"at {names[-1]}: lookups {summary['time_factor_at_largest']:.1f}x faster (software), "
                             f"{summary['energy_factor_at_largest']:.0f}x less energy"))
    accuracy = (("RAM", "ram_accuracy", ACCENT_COLOR, "solid"), ("lookup-only MBI", "lookup_accuracy", OURS_COLOR, "dot"),
                ("mixed MBI", "mixed_accuracy", OURS_COLOR, "solid"))
    for label, col, color, dash in accuracy:
        fig.add_trace(go.Scatter(x=x, y=percent([r[col] for r in rows]), name=label, mode="lines+markers",
                                 text=names, line=dict(color=color, dash=dash), legendgroup="accuracy",
                                 customdata=percent([r["mixed_lookup_share"] for r in rows]),
                                 hovertemplate="%{text}: %{y:.2f}%"
                                 + (" (%{customdata:.1f}% by lookup)" if col == "mixed_accuracy" else "")
                                 + "<extra>" + label + "</extra>"), row=1, col=2)
    if selected in names:
        i = names.index(selected)
        fig.add_trace(go.Scatter(x=[x[i]] * 3, y=percent([rows[i][c] for _, c, _, _ in accuracy]), mode="markers",
                                 showlegend=False, hoverinfo="skip",
                                 marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color="black"))),
                      row=1, col=2)
    fig.update_xaxes(type="log", title_text="RAM MACs per image", row=1, col=2)
    fig.update_yaxes(title_text="test accuracy (%)", row=1, col=2)
    fig.update_layout(title=dict(text=title, y=0.99, yanchor="top"), height=720, margin=dict(l=70, r=20, t=110, b=50),
                      paper_bgcolor="rgba(0,0,0,0)", legend=dict(orientation="h", yanchor="bottom", y=1.04, x=0))
    return fig
