"""Table size (Fig. 4(a)): how lookup accuracy and storage grow with the table's row budget.

A budget's table is the first N rows of the full table (``mbi.inference.tablesize``), so no distilling is needed. The
curve (every budget of the grid, unweighted and with the session's weights) is computed once per model,
weights and image count, in a child process (``mbi.runs.tracecache``: from the largest budget down, leaving the
whole table's traces for the other lookup pages), kept in memory and on disk; the budget slider only moves the marked point.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mbi import plots
from mbi.inference.tablesize import budget_grid, read_recipe_tradeoff
from mbi.inference.vote import recipe_votes
from mbi.urlstate import Param
from dashboard import furniture, lookups, models, session_weights, urlsync

PAGE = "table"
IMAGE_CHOICES = (100, 200, 500, 1000, 10000)
UNWEIGHTED = "unweighted"

furniture.intro(
    "Table size",
    "The lookup table memorizes glimpse steps of training images; a smaller table stores fewer of them. "
    "Pick a row budget to see what it costs in storage and accuracy, with the metric unweighted (a = b = c) "
    "and with the distance weights of this session (e.g. those the metric search found).",
    "Fig. 4(a) (lookup accuracy vs table size, unweighted vs BO-weighted)",
)

models.facts_or_stop()  # a broken model or dataset ends the page with the reason
table = lookups.table_or_stop()
budgets = budget_grid(len(table))
PARAMS = [
    Param("rows", budgets[-1], "choice", choices=tuple(budgets), label="row budget"),
    Param("images", 10000, "choice", choices=IMAGE_CHOICES, label="test images"),
]
messages = urlsync.url_settings(PAGE, PARAMS)
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys

weights = session_weights.current_weights()
weightings = {UNWEIGHTED: session_weights.unweighted()}
if weights != weightings[UNWEIGHTED]:
    weightings["weighted"] = weights

c = st.columns([4, 1])
rows = c[0].select_slider("Row budget", budgets, key=K("rows"), format_func=lambda n: f"{n:,} rows",
                          help="The table keeps the first N distinct keys met while replaying the training "
                               "images in a fixed random order (whole episodes of about N / glimpses images)")
count = int(c[1].selectbox("Test images", IMAGE_CHOICES, key=K("images"), format_func=lambda n: f"{n:,}",
                           help="Accuracy is measured on the first N test images (exact search)"))

points = lookups.budget_curve(table, count, budgets, weightings)

frame = pd.DataFrame([p.to_dict() for p in points])
here = next(p for p in points if p.rows == rows)
full = points[-1]
m = st.columns(5)
m[0].metric("Rows", f"{here.rows:,}", help=f"{100 * here.rows / full.rows:.1f}% of the full table")
m[1].metric("Binary storage", f"{here.storage_bytes / 1e6:.2f} MB",
            help="Keys at their bit widths plus values (hidden state, location, class), bit-packed")
m[2].metric("Thermometer storage", f"{here.storage_thermometer_bytes / 1e6:.2f} MB",
            help="What the in-memory search array stores: L-1 bits per L-level key element")
m[3].metric("Unweighted accuracy", f"{100 * here.accuracy[UNWEIGHTED]:.2f}%")
if "weighted" in here.accuracy:
    gain = here.accuracy["weighted"] - here.accuracy[UNWEIGHTED]
    m[4].metric("Weighted accuracy", f"{100 * here.accuracy['weighted']:.2f}%",
                delta=f"{100 * gain:+.2f} points")
else:
    m[4].metric("Weighted accuracy", "-", help="The session's weights are a = b = c")
    st.info("The weighted curve appears once this session uses weights other than a = b = c: run the "
            "**Metric search** page and apply its best weights (or open a link that carries weights).",
            icon=":material/tune:")
weighted_text = (f"; weighted = {session_weights.weights_text(weights)} ({session_weights.weights_source()})"
                 if "weighted" in weightings else "")
st.caption(f"Lookup-only accuracy on {count:,} test images, exact search{weighted_text}. The paper tunes the weights "
           "for every size; here one weighting serves all sizes (`python -m mbi evaluate --lut-sizes` runs a "
           "search per size).")

left, right = st.columns([3, 2])
with left:
    furniture.plot(plots.budget_accuracy(frame.to_dict("records"), rows), key="budget_accuracy",
                download_name="mbi-table-size")
with right:
    furniture.plot(plots.budget_storage(frame.to_dict("records"), rows), key="budget_storage")
furniture.table(frame, key="budget_table")
furniture.csv_download(frame, "mbi-table-size", key="dl_budget")

st.subheader("Shifted replays: a bigger table against lookups on shifted digits")
try:
    tradeoff = read_recipe_tradeoff(models.model_folder(models.current_model_name()))
except furniture.USER_ERRORS as exc:
    st.error(f"The recorded recipe trade-off could not be read: {furniture.friendly(exc)}")
    tradeoff = None
if tradeoff is None:
    st.info("No recipe trade-off is recorded for this model. Measure it with `python -m mbi recipes CHECKPOINT "
            "--record` (distills the tables with shifted replays once).", icon=":material/info:")
else:
    own = models.lookup_settings_of().table.shifts
    furniture.plot(plots.recipe_tradeoff([p.to_dict() for p in tradeoff["points"]], current=own),
                   key="recipe_tradeoff", download_name="mbi-recipe-tradeoff")
    recipes = pd.DataFrame([{"recipe (shifts)": p.shifts, "rows": p.rows, "binary MB": p.storage_bytes / 1e6,
                             "thermometer MB": p.storage_thermometer_bytes / 1e6,
                             **{f"lookup, {g}": 100 * a for g, a in p.accuracy.items()},
                             **{f"RAM, {g}": 100 * a for g, a in p.ram_accuracy.items()}}
                            for p in tradeoff["points"]])
    furniture.table(recipes, key="recipe_table")
    st.caption(f"Recorded on {tradeoff['images']} images with weights {tradeoff['weights']} (`{tradeoff['command']}`). "
               "Besides every training digit's episode, a 1px table also memorizes the network's episodes on each "
               "digit shifted by one pixel in 4 directions, a 2px table by one and by two pixels: more of the "
               f"network's own behaviour around each training trajectory. This model's table: {own} (the paper's "
               "table is `none`; `--table-shifts` picks another on the command line).")
    votes = recipe_votes(models.model_folder(models.current_model_name()), [p.shifts for p in tradeoff["points"]],
                         models.lookup_settings_of().table)
    if votes:
        st.markdown("**With a learned vote.** A small linear layer over each glimpse's nearest rows of the table "
                    "(`python -m mbi vote`) answers instead of the last glimpse's row; it is fitted on one table's "
                    "neighbours, so each recipe has its own:")
        shown = pd.DataFrame(votes)
        furniture.text_table(shown[[c for c in shown.columns if c != "vote"]])  # the file names (long) go below
        st.caption("Out-of-fold accuracy on the validation digits the vote was fitted on (5 folds; C chosen by it). "
                   f"Recorded beside the model as {', '.join(shown['vote'])}. Test numbers, measured once after the "
                   "choice: RESULTS.md.")
urlsync.sync_url(PAGE, PARAMS, messages)
