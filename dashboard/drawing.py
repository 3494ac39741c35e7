"""Draw a digit and step both paths through it: the canvas, the play / step / reset controls and the
verdict on where the RAM's path and the lookup's part, shared by Glimpse paths and the Overview.

The canvas is ``streamlit-drawable-canvas`` (imported only here, inside the running app: importing it
outside a Streamlit runtime raises). What it sends back is a PNG, checked and converted like an upload
by ``mbi.digits.load_drawing`` (centred and scaled as MNIST is).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from mbi import plots
from mbi.digits import DigitError, encode_png, load_drawing

from dashboard import furniture

if TYPE_CHECKING:  # torch loads only when a visitor draws (the Overview's first view stays light)
    from mbi.inference.lookup import LookupTrace
    from mbi.inference.paths import PathComparison

CANVAS_PX = 280
"""Side of the square canvas (px): fits a phone-width window."""
STROKE_PX = 22
"""Brush width: about 2 px once the digit is scaled into MNIST's 20 px box, like MNIST's pen."""
PLAY_SECONDS = 1.2
"""Time between glimpses while playing."""


@st.cache_data(max_entries=64, show_spinner=False)
def _drawing(data: bytes):
    return load_drawing(data)


def canvas_digit(key: str) -> np.ndarray | None:
    """The canvas and, beside it, the 28x28 digit the RAM gets; that digit (uint8 [28, 28]) or None."""
    from streamlit_drawable_canvas import st_canvas

    left, right = st.columns([3, 2])
    with left:
        st.caption("Draw one digit with the mouse or a finger; the toolbar undoes or clears it.")
        result = st_canvas(stroke_width=STROKE_PX, stroke_color="#FFFFFF", background_color="#000000",
                           height=CANVAS_PX, width=CANVAS_PX, drawing_mode="freedraw", return_image_data=True,
                           key=key)
    data = result.image_bytes
    if data is None:
        right.info("Draw a digit on the black square to see how the RAM and the table read it.",
                   icon=":material/draw:")
        return None
    try:
        digit = _drawing(data)
    except DigitError as exc:
        right.info(str(exc)[:1].upper() + str(exc)[1:] + ".", icon=":material/draw:")
        return None
    with right:
        furniture.plot(plots.digit_image(digit.image, "what the RAM gets (28x28)"), key=f"{key}.digit")
        st.caption("Centred by centre of mass and scaled into 20x20 px of 28x28, as MNIST digits are.")
        st.download_button("Download the 28x28 digit (PNG)", data=encode_png(digit.image), file_name="mbi-digit.png",
                           mime="image/png", key=f"{key}.download", icon=":material/download:")
    return digit.image


# --------------------------------------------------------------------------- play / step / reset


def _set_step(step_key: str, value: int, playing_key: str) -> None:
    st.session_state[step_key] = value
    st.session_state[playing_key] = False


def _advance(step_key: str, steps: int, playing_key: str) -> None:
    step = min(steps, int(st.session_state.get(step_key, 1)) + 1)
    st.session_state[step_key] = step
    if step >= steps:
        st.session_state[playing_key] = False


def _toggle_play(step_key: str, steps: int, playing_key: str) -> None:
    playing = not st.session_state.get(playing_key, False)
    st.session_state[playing_key] = playing
    if playing:
        if int(st.session_state.get(step_key, 1)) >= steps:
            st.session_state[step_key] = 1
        st.session_state[f"{playing_key}.at"] = time.monotonic()


def _tick(step_key: str, steps: int, playing_key: str) -> None:
    """While playing: one glimpse further every :data:`PLAY_SECONDS` (then the whole page redraws)."""
    at = f"{playing_key}.at"
    now = time.monotonic()
    if now - st.session_state.get(at, now) < 0.9 * PLAY_SECONDS:
        st.session_state.setdefault(at, now)
        return
    st.session_state[at] = now
    _advance(step_key, steps, playing_key)
    st.rerun(scope="app")


def step_controls(step_key: str, steps: int, key: str) -> None:
    """Reset, Step and Play / Pause buttons that move the glimpse step kept in ``st.session_state[step_key]``."""
    playing_key = f"{key}.playing"
    playing = bool(st.session_state.get(playing_key, False))
    step = int(st.session_state.get(step_key, 1))
    c = st.columns(3)
    c[0].button("Reset", key=f"{key}.reset", icon=":material/first_page:", on_click=_set_step,
                args=(step_key, 1, playing_key), help="Back to the first glimpse", use_container_width=True)
    c[1].button("Step", key=f"{key}.step", icon=":material/skip_next:", on_click=_advance,
                args=(step_key, steps, playing_key), disabled=step >= steps, help="One glimpse further",
                use_container_width=True)
    c[2].button("Pause" if playing else "Play", key=f"{key}.play", on_click=_toggle_play,
                args=(step_key, steps, playing_key), icon=":material/pause:" if playing else ":material/play_arrow:",
                help=f"One glimpse every {PLAY_SECONDS:g} s", use_container_width=True)
    if playing:
        st.fragment(run_every=PLAY_SECONDS)(_tick)(step_key, steps, playing_key)


# --------------------------------------------------------------------------- the verdict


def _cell(cell: tuple[int, int]) -> str:
    return f"({cell[0]}, {cell[1]})"


def verdict(comparison: PathComparison, class_names: Sequence[str]) -> None:
    """The three answers (RAM, lookups, mixed MBI; classes named by ``class_names``) and, in words, where the
    paths part and why."""
    c = comparison
    cols = st.columns(3)
    cols[0].metric("The RAM says", class_names[c.ram_prediction], help="The RAM's class after its last glimpse")
    cols[1].metric("The lookups say", class_names[c.lookup_prediction],
                   help="The class stored in the last matched table row")
    if c.threshold is None:
        cols[2].metric("Mixed MBI", "-", help="No recorded threshold for these weights (python -m mbi lookup "
                       "--thresholds auto --record chooses one)")
    else:
        how = "by lookup" if c.by_lookup else "by the RAM"
        cols[2].metric("Mixed MBI", class_names[c.mixed_prediction], delta=f"answered {how}", delta_color="off",
                       delta_arrow="off",
                       help=f"Answers by lookup when every step's match is within {c.threshold:.2f} (the model's "
                            "recorded threshold), else asks the RAM")
    if c.first_cell_split is None:
        where = "The lookup reads the same cells as the RAM at every glimpse."
    else:
        s = c.steps[c.first_cell_split - 1]
        where = (f"The paths part at glimpse **{s.step}**: the RAM reads cell {_cell(s.ram_cell)}, the lookup "
                 f"{_cell(s.lookup_cell)} (the matched row of glimpse {s.step - 1} sent it there).")
    if c.first_class_split is not None:
        where += f" Their class readouts first differ at glimpse **{c.first_class_split}**."
    if c.threshold is not None:
        where += (" Every match is within the threshold, so mixed MBI answers by lookup." if c.by_lookup else
                  f" Glimpse **{c.first_over}**'s match is farther than {c.threshold:.2f}, so mixed MBI asks the RAM.")
    st.markdown(where)


def steps_table(comparison: PathComparison, step: int, key: str, class_names: Sequence[str]) -> None:
    """Both paths glimpse by glimpse up to ``step``: cells, classes (named by ``class_names``), matched row,
    distance, training image."""
    c = comparison
    frame = pd.DataFrame({
        "glimpse": [s.step for s in c.steps], "RAM cell": [_cell(s.ram_cell) for s in c.steps],
        "lookup cell": [_cell(s.lookup_cell) for s in c.steps], "RAM class": [class_names[s.ram_class] for s in c.steps],
        "lookup class": [class_names[s.lookup_class] for s in c.steps], "matched row": [s.row for s in c.steps],
        "distance": [s.distance for s in c.steps], "training image": [s.training_image for s in c.steps],
    }).head(int(step))
    furniture.table(frame, key=f"{key}.steps", title=f"Both paths, glimpses 1 to {int(step)}")


# --------------------------------------------------------------------------- both paths on one digit


def lookup_path(model: Any, table: Any, image: np.ndarray, weights: Sequence[float]) -> LookupTrace:
    """The lookup-only trace of one 28x28 digit (memoized per model, table, weights and pixels); ``model`` the RAM
    or its :class:`mbi.config.RAMConfig` (enough: then no torch)."""
    import hashlib

    from mbi.inference.lookup import lookup_infer

    from dashboard import lookups, models

    key = (models.current_model_key(), len(table), tuple(weights), hashlib.sha1(image.tobytes()).hexdigest())
    memo = lookups.memo("glimpse_lookup", 64)
    found = memo.get(key)
    if found is None:
        found = memo.put(key, lookup_infer(model, table, image[None], index=lookups.step_index(table, weights)))
    return found


def draw_and_compare(key: str) -> None:
    """The Overview's guided path: draw, then both paths over the digit with reset / step / play and the verdict."""
    from mbi.inference.paths import compare_paths
    from mbi.memory.decode import decode_key
    from mbi.model.ram import trace
    from mbi.model.predict import images_to_tensor

    from dashboard import lookups, models, session_weights

    image = canvas_digit(f"{key}.canvas")
    if image is None:
        return
    model, cfg, _ = models.current_model()
    ram = cfg.ram
    table = lookups.lookup_table()
    if table is None:
        return
    weights = session_weights.current_weights()
    try:
        lt = lookup_path(ram, table, image, weights)
    except furniture.USER_ERRORS as exc:
        st.error(f"The lookup could not run: {furniture.friendly(exc)}")
        return
    tr = trace(model, images_to_tensor(image[None]))
    comparison = compare_paths(tr, lt, table.source, lookups.recorded_threshold(weights))
    step_key = f"{key}.draw_step"
    st.session_state.setdefault(step_key, 1)
    step_controls(step_key, ram.num_glimpses, f"{key}.play")
    step = int(st.session_state[step_key])
    lookup_centres = np.array([decode_key(lt.queries[0, s], ram).centre_px for s in range(ram.num_glimpses)])
    scales = [ram.glimpse_scale**k for k in range(ram.num_patches)]
    c = st.columns([2, 3])
    with c[0]:
        furniture.plot(plots.two_paths(image, tr.centres[0], lookup_centres, step, ram.patch_size, scales,
                                       comparison.first_cell_split, title="Both paths on your drawing"),
                       key=f"{key}.two_paths")
    with c[1]:
        s = comparison.steps[step - 1]
        st.markdown(f"**Glimpse {step} of {ram.num_glimpses}**: matched table row **{s.row:,}** at distance "
                    f"**{s.distance:.2f}**, first met on training image #{s.training_image}.")
        furniture.plot(plots.digit_gallery([models.dataset().train_x[s.training_image]],
                                           [f"training image #{s.training_image}"], cols=1,
                                           title=f"Where row {s.row:,} comes from"),
                       key=f"{key}.source")
    names = models.class_names()
    verdict(comparison, names)
    steps_table(comparison, step, f"{key}.verdict", names)
    st.page_link("dashboard/pages/glimpse_paths.py", label="Every detail of each glimpse: Glimpse paths",
                 icon=":material/visibility:", query_params={"source": "draw"})
