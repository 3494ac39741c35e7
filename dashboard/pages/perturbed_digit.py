"""Perturbed digit: shift or noise a test digit and watch the RAM's path and the lookup's path part ways.

The perturbation is :class:`mbi.inference.robustness.Perturbation` (the one ``python -m mbi robustness``
measures); both paths run on the same perturbed image with the session's weights and exact search.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from mbi import plots
from mbi.inference.lookup import lookup_infer
from mbi.inference.robustness import DIRECTIONS, Perturbation
from mbi.memory.decode import decode_key
from mbi.urlstate import Param
from dashboard import furniture, lookups, models, session_weights, urlsync

PAGE = "perturbed"

furniture.intro(
    "Perturbed digit",
    "The table memorizes the network's steps on the training digits. Move a test digit by a pixel or two, or add "
    "pixel noise, and the network still reads it much as before, while the lookups may match another training "
    "digit's trajectory: see at which glimpse the two paths part and what each answers. `python -m mbi robustness` "
    "measures the same perturbations on many digits.",
    "beyond the paper (robustness of memorization)",
)

cfg, data = models.facts_or_stop()  # the RAM itself (torch) loads only for a perturbed digit
ram = cfg.ram
table = lookups.table_or_stop()
weights = session_weights.current_weights()
PARAMS = [
    Param("image", 0, "int", lo=0, hi=len(data.test_y) - 1, label="test image"),
    Param("dir", "right", "choice", choices=tuple(DIRECTIONS), label="shift direction"),
    Param("px", 0, "int", lo=0, hi=4, label="shift pixels"),
    Param("noise", 0.0, "float", lo=0.0, hi=0.5, step=0.05, label="noise sigma"),
    Param("seed", 0, "int", lo=0, hi=9999, label="noise seed"),
]
messages = urlsync.url_settings(PAGE, PARAMS)
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys

c = st.columns([2, 2, 2, 2, 1])
index = int(c[0].number_input("Test image (0-9999)", 0, len(data.test_y) - 1, key=K("image")))
direction = c[1].selectbox("Shift direction", tuple(DIRECTIONS), key=K("dir"))
pixels = int(c[2].slider("Shift (pixels)", 0, 4, key=K("px"), help="Mass moves by exactly this many pixels"))
sigma = float(c[3].slider("Pixel noise (sigma, 0..1 scale)", 0.0, 0.5, key=K("noise"), step=0.05,
                          help="Gaussian noise added to every pixel, then clipped and rounded"))
seed = int(c[4].number_input("Seed", 0, 9999, key=K("seed"), help="The noise is drawn from this seed"))

image, label = data.test_x[index], int(data.test_y[index])
x = image[None]
if pixels:
    x = Perturbation("shift", direction=direction, pixels=pixels).apply(x)
if sigma > 0:
    x = Perturbation("noise", sigma=sigma, seed=seed).apply(x)
perturbed = x[0]

if pixels or sigma > 0:  # the network's own pass on the perturbed pixels
    from mbi.model.predict import images_to_tensor
    from mbi.model.ram import trace

    tr = trace(models.load_or_stop()[0], images_to_tensor(x))
else:  # the test digit as it is: its glimpses come from the RAM's trace of every test digit
    tr = lookups.ram_test_trace(index)
key = (models.current_model_key(), len(table), weights, hashlib.sha1(perturbed.tobytes()).hexdigest())
lt = lookups.memo("perturbed_lookup", 64).get(key)
if lt is None:
    try:
        lt = lookups.memo("perturbed_lookup", 64).put(key, lookup_infer(ram, table, x,
                                                                        index=lookups.step_index(table, weights)))
    except furniture.USER_ERRORS as exc:
        st.error(f"The lookup could not run: {furniture.friendly(exc)}")
        st.stop()
lookup_centres = np.array([decode_key(lt.queries[0, s], ram).centre_px for s in range(ram.num_glimpses)], dtype=int)

ram_says, lookup_says = int(tr.prediction[0]), int(lt.prediction[0])
names = models.class_names()
apart = np.flatnonzero(np.any(lookup_centres != tr.centres[0], axis=1))
m = st.columns(4)
m[0].metric("Label", names[label])
m[1].metric("The RAM says", names[ram_says], "right" if ram_says == label else "wrong",
            delta_color="normal" if ram_says == label else "inverse")
m[2].metric("The lookups say", names[lookup_says], "right" if lookup_says == label else "wrong",
            delta_color="normal" if lookup_says == label else "inverse")
m[3].metric("Paths part at glimpse", "-" if len(apart) == 0 else int(apart[0]) + 1,
            help="The first glimpse where the lookup reads another location than the RAM ('-': never)")

left, right = st.columns([3, 2])
what = ", ".join(p for p in ([f"shifted {pixels} px {direction}"] if pixels else [])
                 + ([f"noise {sigma:g} (seed {seed})"] if sigma > 0 else [])) or "unperturbed"
with left:
    furniture.plot(plots.parting_paths(perturbed, tr.centres[0], lookup_centres, [names[r] for r in tr.readouts[0]],
                                       [names[r] for r in lt.readouts[0]], title=f"Test image #{index} ({what})"), key="parting_paths",
                   download_name="mbi-parting-paths")
with right:
    recorded = models.lookup_settings_of().threshold
    threshold = recorded if isinstance(recorded, (int, float)) and weights == session_weights.model_weights()[0] else None
    furniture.plot(plots.step_distances(lt.distance[0], threshold, "Lookup: matched distance per glimpse"
                                        + ("" if threshold is None else " (dashed: mixed-MBI threshold)")),
                   key="perturbed_distances")
    if threshold is not None:
        st.caption("Mixed MBI would answer this digit by "
                   + ("lookup" if float(lt.max_distance[0]) <= threshold else "the RAM (a glimpse matched too far)")
                   + f" at the model's threshold {threshold:.2f}.")
frame = pd.DataFrame({
    "glimpse": np.arange(1, ram.num_glimpses + 1),
    "RAM centre (row, col)": [f"{r}, {c_}" for r, c_ in tr.centres[0]],
    "lookup centre (row, col)": [f"{r}, {c_}" for r, c_ in lookup_centres],
    "RAM reads class": [names[r] for r in tr.readouts[0]], "lookup reads class": [names[r] for r in lt.readouts[0]],
    "matched distance": lt.distance[0], "matched row": lt.rows[0], "from training image": table.source[lt.rows[0]],
})
furniture.table(frame, key="perturbed_steps")
furniture.csv_download(frame, "mbi-perturbed-steps", key="dl_perturbed_steps", label="Download the steps (CSV)")
st.caption(f"Exact search; weights {session_weights.weights_text(weights)} ({session_weights.weights_source()}).")
urlsync.sync_url(PAGE, PARAMS, messages)
