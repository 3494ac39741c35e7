"""Mixed MBI (Fig. 5): a distance threshold decides, per image, between the lookups and the RAM.

The lookup trace of the test images is computed once (per model, weights, search and image count;
kept in memory and on disk); the threshold slider, the class filter and the examples only re-slice it.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import streamlit as st

from mbi import plots
from mbi.memory.decode import decode_key
from mbi.config import TreeConfig
from mbi.inference.gate import ANSWERS, GATES, LearnedGate, accuracy_at_share, gate_curve
from mbi.inference.fallback import FALLBACKS, FusedFallback, recorded_fallback
from mbi.inference.vote import read_vote, vote_features
from mbi.inference.votegate import recorded_vote_gate, voted
from mbi.inference.mixed import (class_breakdown, curve_thresholds, default_threshold, fallback_steps, fallbacks,
                                 mixed_curve, mixed_point)
from mbi.runs.gatecache import gate_scores
from mbi.urlstate import Param
from dashboard import furniture, lookups, models, session_weights, urlsync

PAGE = "mixed"
IMAGE_CHOICES = (100, 300, 1000, 2000, 10000)
GALLERY = 12
NAMES = {"images", "search", "checks", "thr", "cls", "gate", "share"}

furniture.intro(
    "Mixed MBI",
    "Lookups are cheap but not always right. **Mixed MBI** answers an image by lookups only when every glimpse "
    "found a key within a distance threshold; otherwise the RAM computes it. Move the threshold to trade "
    "accuracy for the share of images that need no arithmetic at all.",
    "Fig. 5 (mixed MBI at a sweeping threshold)",
)

cfg, data = models.facts_or_stop()
table = lookups.table_or_stop()
weights = session_weights.current_weights()
BASE = [
    Param("images", 10000, "choice", choices=IMAGE_CHOICES, label="test images"),
    Param("search", "brute", "choice", choices=("brute", "tree"), label="search"),
    Param("checks", 16, "int", lo=1, hi=64, label="tree checks"),
]
first = urlsync.peek(PAGE, BASE, NAMES)
count = int(first["images"])
tree = TreeConfig(checks=int(first["checks"])) if first["search"] == "tree" else None
trace = lookups.lookup_trace(table, "test", count, weights, first["search"], tree)
ram_pred = lookups.ram_predictions("test", count)
labels = data.test_y[:count]

own = weights == session_weights.model_weights()[0]
opening = default_threshold(trace, models.lookup_settings_of().threshold, own_weights=own)
top = opening.top
PARAMS = BASE + [
    Param("thr", opening.threshold, "float", lo=0.0, hi=top, step=0.1, label="threshold"),
    Param("cls", "all", "choice", choices=("all",) + tuple(range(10)), label="class"),
    Param("gate", "learned", "choice", choices=GATES, label="gate"),
    Param("share", 90, "int", lo=50, hi=100, label="share by lookup (%)"),
]
messages = urlsync.url_settings(PAGE, PARAMS)
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys


def _recorded_fused(vote) -> FusedFallback | None:
    """The model's recorded fused fallback when it can serve here (a recorded vote it was fitted for, the model's own
    weights); a stale or damaged one is said, not used."""
    entry = models.lookup_settings_of().fallback
    if entry is None or vote is None:
        return None
    try:
        fused = recorded_fallback(entry, vote)
    except ValueError as exc:
        st.info(f"The recorded fused fallback cannot answer here: {furniture.friendly(exc)}", icon=":material/info:")
        return None
    return fused


c = st.columns([2, 2, 2])
c[0].selectbox("Test images", IMAGE_CHOICES, key=K("images"), format_func=lambda n: f"{n:,}",
               help="The first N images of the test split; the lookups run once per count (then cached)")
c[1].radio("Search", ("brute", "tree"), key=K("search"), horizontal=True,
           format_func={"brute": "exact (brute force)", "tree": "k-means tree"}.get,
           help="Exact search scans every key of the step; the tree (branching 4, leaves of 32) scans `checks` "
                "leaves: far fewer comparisons, nearly the same matches with 16 checks")
if first["search"] == "tree":
    c[2].slider("Tree checks (leaves scanned)", 1, 64, key=K("checks"))
thr = st.slider("Distance threshold", 0.0, top, key=K("thr"), step=0.1, format="%.1f",
                help=f"An image is answered by lookups when every step's match is at most this far (eq. (1)). "
                     f"Opens at {opening.reason}.")

point = mixed_point(trace, ram_pred, labels, thr)
m = st.columns(6)
m[0].metric("Mixed accuracy", f"{100 * point.accuracy:.2f}%",
            help="Lookups where close enough, the RAM elsewhere")
m[1].metric("Answered by lookup", f"{100 * point.lookup_share:.1f}%",
            help="Share of images that needed no arithmetic")
m[2].metric("Lookup-only accuracy", f"{100 * float(np.mean(trace.prediction == labels)):.2f}%",
            help="Every image by lookups (threshold = infinity)")
m[3].metric("RAM accuracy", f"{100 * float(np.mean(ram_pred == labels)):.2f}%", help="Every image by the RAM")
m[4].metric("Lookup part", "-" if point.lookup_accuracy is None else f"{100 * point.lookup_accuracy:.2f}%",
            help="Accuracy on the images the lookups answered")
m[5].metric("RAM part", "-" if point.ram_accuracy is None else f"{100 * point.ram_accuracy:.2f}%",
            help="Accuracy on the images that fell back to the RAM")
search_text = "exact search" if tree is None else f"k-means tree, {tree.checks} checks"
st.caption(f"{count:,} test images; weights {session_weights.weights_text(weights)} ({session_weights.weights_source()}); "
           f"{search_text}: "
           f"{trace.comparisons.mean():,.0f} key comparisons per lookup on average.")

curve = [asdict(p) for p in mixed_curve(trace, ram_pred, labels, curve_thresholds(trace))]
furniture.plot(plots.mixed_mbi_marked(curve, asdict(point)), key="mixed_curve", download_name="mbi-mixed-curve")
furniture.csv_download(pd.DataFrame(curve), "mbi-mixed-curve", key="dl_curve", label="Download the curve (CSV)")

st.subheader("Which gate: the largest distance, or a gate that predicts lookup errors")
gate_entry = models.lookup_settings_of().gate
if not isinstance(gate_entry, dict):
    st.info("This model has no learned gate. Fit one on validation digits with "
            "`python -m mbi gate CHECKPOINT --fit --record`.", icon=":material/info:")
elif not own:
    st.info("The learned gate was fitted with the model's own distance weights: pick them in the sidebar to compare "
            "the gates.", icon=":material/info:")
else:
    try:
        learned = LearnedGate.from_dict(gate_entry)
        learned.check_table(table)
    except ValueError as exc:
        st.error(furniture.friendly(exc))
        learned = None
    if learned is not None:
        nb = lookups.gate_neighbours(table, "test", count, weights, learned.k, first["search"], tree)
        scores = {"distance": trace.max_distance, "learned": gate_scores("learned", trace, nb, table, data.train_y,
                                                                        learned)}
        answer = trace.prediction
        try:
            vote = read_vote(models.model_folder(models.current_model_name()), models.lookup_settings_of().table)
            if vote is not None:
                vote.check_table(table, models.lookup_settings_of().chosen_weights)  # `own`: the model's weights
        except ValueError as exc:
            st.info(f"The recorded learned vote cannot answer here: {furniture.friendly(exc)}", icon=":material/info:")
            vote = None
        if vote is not None and st.radio(
                "Lookup answers", ANSWERS, key="mixed_answers", horizontal=True,
                format_func={"plain": "plain (the last glimpse's readout)", "vote": "learned vote"}.get,
                help="The images a gate keeps are answered by the plain lookup, or by the learned vote over each "
                     f"glimpse's {vote.k} nearest rows (`python -m mbi vote`; fitted on {vote.fitted_on})") == "vote":
            entry = models.lookup_settings_of().vote_gate
            try:
                vote_gate = None if entry is None else recorded_vote_gate(entry, vote)
            except ValueError as exc:
                st.error(furniture.friendly(exc))
                vote_gate = None
            vote_nb = nb if vote.k == learned.k else lookups.gate_neighbours(table, "test", count, weights, vote.k,
                                                                            first["search"], tree)
            answer, vote_score = voted(vote, trace, vote_nb, table, data.train_y, vote_gate)
            if vote_score is not None:
                scores["learned"] = vote_score
            st.caption(f"Lookup-only with the vote: {100 * float(np.mean(answer == labels)):.2f}% (plain "
                       f"{100 * float(np.mean(trace.prediction == labels)):.2f}%); the learned curve is "
                       + ("the gate fitted to the voted answers' errors." if vote_score is not None else
                          "the plain answers' gate (no gate of voted answers is recorded)."))
        fallback = ram_pred
        fused = _recorded_fused(vote)
        if fused is not None and st.radio(
                "Fallback", FALLBACKS, key="mixed_fallback", horizontal=True,
                format_func={"ram": "the RAM (paper)", "fused": "the RAM and the lookup's vote"}.get,
                help="What answers the images a gate does not trust the lookup with: the RAM's class, or the class "
                     "best supported by both the RAM and the learned vote over the lookup's nearest rows (log p_RAM + "
                     f"{fused.beta:g} log p_vote; beta chosen on {fused.fitted_on}). The images answered by lookup "
                     "are the same either way") == "fused":
            vote_nb = nb if vote.k == learned.k else lookups.gate_neighbours(table, "test", count, weights, vote.k,
                                                                            first["search"], tree)
            fallback = fused.answers(lookups.ram_logits("test", count),
                                     vote.scores(vote_features(trace, vote_nb, table, data.train_y, vote.classes)))
            st.caption(f"The fused fallback alone answers {100 * float(np.mean(fallback == labels)):.2f}% of these "
                       f"images right (the RAM {100 * float(np.mean(ram_pred == labels)):.2f}%); the curves below send "
                       "each gate's doubtful images to it.")
        curves = {g: gate_curve(scores[g], answer, fallback, labels) for g in GATES}
        g = st.columns([2, 3])
        gate = g[0].radio("Gate", GATES, key=K("gate"), horizontal=True,
                          format_func={"distance": "largest matched distance (paper)",
                                       "learned": "learned (predicts wrong lookups)"}.get,
                          help="The learned gate scores each image's chance of a wrong lookup answer from every "
                               f"glimpse's distance, the margin to the second-best row, how many of the {learned.k} "
                               "nearest rows come from digits of the answered class and how much farther the nearest "
                               f"row of another class is; fitted on validation digits ({learned.fitted_on})")
        share = g[1].slider("Share answered by lookup (%)", 50, 100, key=K("share"),
                            help="Both gates answer this share by lookup: the images they trust most")
        marks = {name: asdict(accuracy_at_share(curves[name], share / 100)) for name in GATES}
        gm = st.columns(3)
        gm[0].metric(f"Mixed accuracy, {gate} gate", f"{100 * marks[gate]['accuracy']:.2f}%",
                     help=f"with {100 * marks[gate]['lookup_share']:.1f}% by lookup")
        other = "distance" if gate == "learned" else "learned"
        gm[1].metric(f"Mixed accuracy, {other} gate", f"{100 * marks[other]['accuracy']:.2f}%",
                     help=f"with {100 * marks[other]['lookup_share']:.1f}% by lookup")
        gm[2].metric("RAM accuracy", f"{100 * float(np.mean(ram_pred == labels)):.2f}%")
        furniture.plot(plots.gate_curves({name: [asdict(p) for p in curves[name]] for name in GATES},
                                         {gate: marks[gate]}, float(np.mean(ram_pred == labels))),
                       key="gate_curves", download_name="mbi-gate-curves")

left, right = st.columns([3, 2])
names = models.class_names()
breakdown = pd.DataFrame([asdict(r) for r in class_breakdown(trace, ram_pred, labels, thr)])
breakdown.insert(1, "class", [names[c] for c in breakdown["label"]])
with left:
    furniture.plot(plots.class_breakdown_bars(breakdown.to_dict("records"), f"Mixed MBI per class at threshold {thr:.1f}",
                                              class_names=names), key="class_bars")
    furniture.csv_download(breakdown, "mbi-mixed-per-class", key="dl_classes", label="Download per class (CSV)")
with right:
    furniture.plot(plots.fallback_steps_bars(fallback_steps(trace, thr)), key="fallback_steps")

st.subheader("Images that fell back to the RAM, and why")
fb = fallbacks(trace, thr)
frame = pd.DataFrame({
    "test image": fb.image, "label": [names[c] for c in labels[fb.image]],
    "RAM says": [names[c] for c in ram_pred[fb.image]],
    "lookup would say": [names[c] for c in trace.prediction[fb.image]], "first step over": fb.step + 1,
    "its distance": fb.distance, "steps over": fb.steps_over, "largest distance": fb.max_distance,
})
cls = st.segmented_control("Class", ("all",) + tuple(range(len(names))), key=K("cls"),
                           format_func=lambda c: c if c == "all" else names[c],
                           help="Show the fallbacks of one true class") or "all"
shown = frame if cls == "all" else frame[frame["label"] == names[cls]]
if shown.empty:
    st.info("No image of this selection fell back: every glimpse found a key within the threshold.")
else:
    st.caption(f"{len(shown):,} images fell back (the RAM answered them). Each one's reason is the first glimpse "
               f"whose nearest key was farther than {thr:.1f}; the x marks where that glimpse looked.")
    top_rows = shown.head(GALLERY)
    marks, titles = [], []
    for _, row in top_rows.iterrows():
        i, t = int(row["test image"]), int(row["first step over"]) - 1
        marks.append(decode_key(trace.queries[i, t], cfg.ram).centre_px)
        titles.append(f"#{i} ({row['label']}): step {t + 1}, d={row['its distance']:.1f}")
    furniture.plot(plots.digit_gallery([data.test_x[int(i)] for i in top_rows["test image"]], titles, marks,
                                    title=f"Fallbacks at threshold {thr:.1f} (first {len(top_rows)})"),
                key="fallback_gallery")
    pick = st.selectbox("Look at one", shown["test image"].head(200).tolist(), key="mixed_example",
                        format_func=lambda i: f"test image #{i} (label {names[labels[i]]})")
    furniture.plot(plots.step_distances(trace.distance[int(pick)], thr,
                                     f"Test image #{int(pick)}: matched distance per glimpse"), key="example_steps")
    furniture.table(shown, key="fallback_table", max_rows=30)
    furniture.csv_download(shown, "mbi-mixed-fallbacks", key="dl_fallbacks", label="Download fallbacks (CSV)")
urlsync.sync_url(PAGE, PARAMS, messages)
