"""What the RAM looks at: digits, glimpse paths, the patches it reads and its class probabilities."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from mbi.plots.common import ACCENT_COLOR, OURS_COLOR, apply_layout


def digit_image(image: np.ndarray, title: str = "28x28 input") -> go.Figure:
    """A grayscale digit (dark ink on white, like the glimpse figures), pixel axes."""
    img = np.asarray(image, dtype=float)
    fig = go.Figure(go.Heatmap(z=img[::-1], colorscale="gray_r", showscale=False,
                               hovertemplate="row %{y}, col %{x}: %{z:.0f}<extra></extra>"))
    apply_layout(fig, title, "column (px)", "row (px, flipped)")
    fig.update_xaxes(range=[-0.5, img.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(range=[-0.5, img.shape[0] - 0.5], scaleanchor="x")
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
                      start: int = 0, class_names: Sequence[str] | None = None) -> go.Figure:
    """The digit with the RAM's glimpses animated one step per frame (Play button and step slider).

    Frame ``t`` draws the path up to glimpse ``t`` and the squares of glimpse ``t`` (one per patch,
    ``patch_size * scale`` px wide); ``readouts[t]`` (the class read from h_t, shown as ``class_names[t]`` when
    given) goes in the frame's title.
    ``centres`` has shape (T, 2) as (row, col) pixels; the figure opens on glimpse ``start`` (0-based).
    """
    img = np.asarray(image, dtype=float)
    h = img.shape[0]
    centres = np.asarray(centres)
    steps = len(centres)
    xs, ys = centres[:, 1], h - 1 - centres[:, 0]

    def frame_title(t: int) -> str:
        said = f": reads {_class_name(int(readouts[t]), class_names)}" if readouts is not None else ""
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
    apply_layout(fig, frame_title(start), "column (px)", "row (px, flipped)")
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


def _class_name(index: int, class_names: Sequence[str] | None) -> str:
    """Class ``index`` by name (``class_names[index]``), else its number."""
    return str(index) if class_names is None else str(class_names[index])


def class_probabilities(probs: Sequence[float], label: int | None = None,
                        title: str = "Class probabilities after the last glimpse",
                        class_names: Sequence[str] | None = None) -> go.Figure:
    """Bar chart of the 10 class probabilities (%), one bar per class (named by ``class_names`` when given);
    the true label, when known, in the accent color."""
    p = 100 * np.asarray(probs, dtype=float)
    colors = [ACCENT_COLOR if label is not None and i == label else OURS_COLOR for i in range(len(p))]
    fig = go.Figure(go.Bar(x=[_class_name(i, class_names) for i in range(len(p))], y=p, marker_color=colors,
                           hovertemplate="class %{x}: %{y:.1f}%<extra></extra>"))
    apply_layout(fig, title, "class (highlighted bar = true label)" if label is not None else "class", "probability (%)")
    fig.update_yaxes(range=[0, 100])
    return fig
