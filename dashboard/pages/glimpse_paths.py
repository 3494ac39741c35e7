"""Glimpse paths: follow the RAM glimpse by glimpse on a test digit, an uploaded one or one drawn here.

The page is laid out as two paths side by side: the RAM's (what the network computes) and the
lookup's (what MBI retrieves from the table: at each step the matched row, its distance and where
that row came from), with the session's distance weights and exact search; reset / step / play move
both, and a verdict says where the paths part and whether mixed MBI would answer by lookup.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mbi import plots
from mbi.memory.decode import decode_key
from mbi.digits import MAX_UPLOAD_BYTES, DigitError, load_digit
from mbi.inference.lookup import LookupTrace
from mbi.inference.paths import compare_paths
from mbi.model.ramtrace import Trace
from mbi.urlstate import Param
from dashboard import drawing, furniture, lookups, models, session_weights, urlsync

PAGE = "glimpses"
SOURCES = {"test": "Test image", "draw": "Draw a digit", "upload": "Your digit (PNG/JPEG upload)"}

furniture.intro(
    "Glimpse paths",
    "The RAM never sees the whole digit: at each step it reads a few small patches around one location, "
    "coarsely quantized, updates its hidden state and decides where to look next. "
    "Step through the glimpses of a test digit, draw your own or upload one, to see exactly what the network "
    "reads and where the table's answers part from it.",
    "Fig. 2 (the RAM's glimpses, the keys of the lookup table)",
)

cfg, data = models.facts_or_stop()  # the RAM itself (torch) loads only for a drawn or uploaded digit
ram = cfg.ram
PARAMS = [
    Param("source", "test", "choice", choices=tuple(SOURCES), label="image source"),
    Param("image", 0, "int", lo=0, hi=len(data.test_y) - 1, label="test image"),
    Param("step", 1, "int", lo=1, hi=ram.num_glimpses, label="glimpse step"),
]
messages = urlsync.url_settings(PAGE, PARAMS)
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys


@st.cache_data(max_entries=64, show_spinner=False)
def _digit(data_bytes: bytes):
    return load_digit(data_bytes)


@st.cache_data(max_entries=256, show_spinner=False)
def _own_trace(model_name: str, stamp: float, image: np.ndarray) -> Trace:
    """The RAM's trace of a drawn or uploaded digit: computed here, so this loads the RAM (and torch)."""
    from mbi.model.predict import images_to_tensor
    from mbi.model.ram import trace

    return trace(models.load_or_stop()[0], images_to_tensor(image[None]))


def _random_image() -> None:
    st.session_state[K("image")] = int(np.random.default_rng().integers(len(data.test_y)))


source = st.radio("Image", list(SOURCES), format_func=SOURCES.get, key=K("source"), horizontal=True)
image: np.ndarray | None = None
label: int | None = None
name = ""
if source == "test":
    c = st.columns([2, 1, 3])
    index = c[0].number_input("Test image (0-9999)", 0, len(data.test_y) - 1, key=K("image"),
                              help="Index into the 10,000-image test split")
    c[1].button("Random", on_click=_random_image, icon=":material/casino:", key="random_image")
    image, label, name = data.test_x[int(index)], int(data.test_y[int(index)]), f"test image #{int(index)}"
elif source == "draw":
    image, name = drawing.canvas_digit("glimpse_canvas"), "your drawing"
else:
    upload = st.file_uploader("A digit: PNG or JPEG, at most 2 MiB", type=["png", "jpg", "jpeg"], key="digit_upload",
                              help="Any photo or drawing of one digit; it is converted like MNIST (grayscale, "
                                   "light background inverted, digit scaled to 20 px and centred by mass).")
    if upload is None:
        st.info("Upload an image of one handwritten digit to see how the RAM reads it.")
    elif upload.size > MAX_UPLOAD_BYTES:
        st.error(f"The file is {upload.size / 2**20:.1f} MiB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MiB.")
    else:
        try:
            digit = _digit(upload.getvalue())
        except DigitError as exc:
            st.error(f"This upload cannot be used: {furniture.friendly(exc)}")
        else:
            image, name = digit.image, f"your digit ({furniture.plotly_text(upload.name, 40)})"
            c = st.columns([1, 1, 2])
            c[0].image(digit.preview, caption=f"uploaded, {digit.original_size[0]}x{digit.original_size[1]} px",
                       width=160)
            with c[1]:
                furniture.plot(plots.digit_image(image, "what the RAM gets (28x28)"), key="upload_28")
            c[2].markdown("**Conversion**\n\n" + "\n".join(f"- {s}" for s in digit.steps))

if image is None:
    urlsync.sync_url(PAGE, PARAMS, messages)
    st.stop()

if source == "test":  # the RAM's trace of every test digit, computed once per model in a child process
    tr = lookups.ram_test_trace(int(index))
else:
    tr = _own_trace(*models.current_model_key(), image)
scales = [ram.glimpse_scale**k for k in range(ram.num_patches)]
widths = [ram.patch_size * s for s in scales]
c = st.columns([3, 2])
with c[1]:
    drawing.step_controls(K("step"), ram.num_glimpses, "glimpse_play")
step = c[0].slider("Glimpse step", 1, ram.num_glimpses, key=K("step"),
                   help="Which glimpse to inspect below (Step and Play move it)")
t = int(step) - 1
prediction = int(tr.prediction[0])
names = models.class_names()
verdict = "" if label is None else (" (correct)" if prediction == label else f" (wrong: the label is {names[label]})")


def _ram_column() -> None:
    st.subheader("RAM path")
    st.caption("The network computes every step: patches -> glimpse network -> core -> next location.")
    furniture.plot(plots.glimpse_animation(image, tr.centres[0], ram.patch_size, scales, tr.readouts[0],
                                        title=f"RAM on {name}", start=t, class_names=names), key="ram_animation",
                download_name="mbi-glimpses")
    r, col = tr.centres[0, t]
    gr, gc = tr.locs[0, t]
    st.markdown(f"**Glimpse {step} of {ram.num_glimpses}**: centre row {r}, column {col} px (grid cell {gr}, {gc} "
                f"of {ram.loc_grid}x{ram.loc_grid}); after it the hidden state reads as class **{names[tr.readouts[0, t]]}**.")
    furniture.plot(plots.glimpse_patches(tr.patches[0, t], widths, ram.patch_bits,
                                         title=f"Glimpse {step}: what the RAM sees"),
                   key="ram_patches")


def _lookup_column() -> tuple[object, LookupTrace] | None:
    """The lookup's path; returns (table, lookup trace) for the verdict, or None when there is no table."""
    st.subheader("Lookup path")
    st.caption("MBI replaces each step by a table lookup: the nearest stored key (patch, previous hidden state, "
               "location) gives the next hidden state, location and class.")
    table = lookups.lookup_table()
    if table is None:
        return None
    weights = session_weights.current_weights()
    try:
        lt = drawing.lookup_path(ram, table, image, weights)
    except furniture.USER_ERRORS as exc:
        st.error(f"The lookup could not run: {furniture.friendly(exc)}")
        return None
    keys = [decode_key(lt.queries[0, s], ram) for s in range(ram.num_glimpses)]
    centres = np.array([k.centre_px for k in keys], dtype=int)
    furniture.plot(plots.glimpse_animation(image, centres, ram.patch_size, scales, lt.readouts[0],
                                        title=f"Lookup on {name}", start=t, class_names=names),
                   key="lookup_animation",
                download_name="mbi-lookup-glimpses")
    row, dist = int(lt.rows[0, t]), float(lt.distance[0, t])
    source = int(table.source[row])
    same = "the same cell as the RAM" if (lt.locs[0, t] == tr.locs[0, t]).all() else \
        f"the RAM looked at grid cell {tr.locs[0, t, 0]}, {tr.locs[0, t, 1]}"
    st.markdown(f"**Glimpse {step} of {ram.num_glimpses}**: read grid cell {lt.locs[0, t, 0]}, {lt.locs[0, t, 1]} "
                f"({same}); nearest key: table row **{row:,}** at distance **{dist:.2f}**, first met on training "
                f"image #{source}; its value reads as class **{names[lt.readouts[0, t]]}**.")
    matched = decode_key(table.keys[row], ram)
    furniture.plot(plots.query_and_match(keys[t].intensity, matched.intensity, widths, ram.patch_bits,
                                         ("query", f"row {row:,}"),
                                         title=f"Glimpse {step}: query vs matched key (distance {dist:.2f})"),
                   key="lookup_match")
    threshold = lookups.recorded_threshold(weights)
    furniture.plot(plots.step_distances(lt.distance[0], threshold, "Matched distance per glimpse"
                                        + ("" if threshold is None else " (dashed: the model's mixed-MBI threshold)")),
                   key="lookup_distances")
    furniture.plot(plots.digit_gallery([data.train_x[source]], [f"training image #{source}"], [matched.centre_px],
                                       cols=1, title=f"Where row {row:,} comes from"),
                   key="lookup_source")
    frame = pd.DataFrame({
        "step": np.arange(1, ram.num_glimpses + 1), "grid row": lt.locs[0, :, 0], "grid col": lt.locs[0, :, 1],
        "matched row": lt.rows[0], "distance": lt.distance[0], "training image": table.source[lt.rows[0]],
        "lookup readout (class)": [names[r] for r in lt.readouts[0]],
    })
    furniture.csv_download(frame, "mbi-lookup-steps", key="dl_lookup_steps", label="Download the lookup steps (CSV)")
    st.caption(f"Exact search over the step's {len(table.rows_of_step(t)):,} keys, weights "
               f"{session_weights.weights_text(weights)} ({session_weights.weights_source()}).")
    return table, lt


left, right = st.columns(2)
with left:
    _ram_column()
with right:
    looked_up = _lookup_column()

if looked_up is not None:
    table, lt = looked_up
    comparison = compare_paths(tr, lt, table.source, lookups.recorded_threshold(session_weights.current_weights()))
    st.subheader("Where the two paths part")
    c = st.columns([2, 3])
    lookup_centres = np.array([decode_key(lt.queries[0, s], ram).centre_px for s in range(ram.num_glimpses)])
    with c[0]:
        furniture.plot(plots.two_paths(image, tr.centres[0], lookup_centres, int(step), ram.patch_size, scales,
                                       comparison.first_cell_split, title=f"Both paths on {name}"),
                       key="two_paths")
    with c[1]:
        drawing.verdict(comparison, names)
    drawing.steps_table(comparison, int(step), "glimpse_verdict", names)

st.subheader(f"The RAM says {names[prediction]}{verdict}")
steps = pd.DataFrame({
    "step": np.arange(1, ram.num_glimpses + 1),
    "grid row": tr.locs[0, :, 0], "grid col": tr.locs[0, :, 1],
    "centre row (px)": tr.centres[0, :, 0], "centre col (px)": tr.centres[0, :, 1],
    "RAM readout (class)": [names[r] for r in tr.readouts[0]],
})
c = st.columns([3, 2])
with c[0]:
    furniture.table(steps, key="steps_table")
    furniture.csv_download(steps, "mbi-glimpse-steps", key="dl_steps")
with c[1]:
    furniture.plot(plots.class_probabilities(tr.probs[0], label, class_names=names), key="probs")
urlsync.sync_url(PAGE, PARAMS, messages)
