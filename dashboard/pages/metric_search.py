"""Metric search: Bayesian optimization of the distance weights a, b, c of eq. (1), live, trial by trial.

The study (``mbi.inference.bo.run_bo``: Optuna's Gaussian-process sampler over b/a and c/a, the first trial
unweighted) lives in an Optuna journal under ``$MBI_HOME/bo/``, so it resumes and its trials show at once
on the next visit. Its best weights can be applied to every lookup page of the session.
"""

from __future__ import annotations

import warnings

import optuna
import pandas as pd
import streamlit as st
from optuna.visualization import plot_contour, plot_optimization_history, plot_slice

from mbi.inference.bo import completed_trials, run_bo, summarize, trial_table
from mbi.runs.jobs import limits_from_env
from mbi.store import artifacts_root
from mbi.runs.studies import open_storage
from mbi.search.weights import RATIO_RANGE, from_ratios
from mbi.urlstate import Param
from dashboard import furniture, lookups, models, session_weights, urlsync

PAGE = "weights"
PARAMS_NAMES = ["b_over_a", "c_over_a"]
hosted = limits_from_env().hosted
IMAGE_CHOICES = (100, 200, 500) if hosted else (100, 200, 500, 1000, 2000)
MAX_TRIALS = 20 if hosted else 60
optuna.logging.set_verbosity(optuna.logging.WARNING)

furniture.intro(
    "Metric search",
    "The distance between a query and a key weighs its three parts: a for the patch, b for the hidden state, "
    "c for the location (eq. (1)). Bayesian optimization (Optuna's Gaussian-process sampler) searches b/a and "
    "c/a for the best lookup-only accuracy on **validation** images; the first trial is the unweighted metric. "
    "Watch it trial by trial, then apply the best weights to every lookup page.",
    "Sec. III-B (Bayesian optimization of a, b, c; its gain shows in Fig. 4(a))",
)

_, data = models.facts_or_stop()  # the RAM (torch) loads only when a study runs
table = lookups.table_or_stop()
PARAMS = [
    Param("trials", 20, "int", lo=1, hi=MAX_TRIALS, label="trials"),
    Param("images", 200, "choice", choices=IMAGE_CHOICES, label="validation images"),
    Param("seed", 0, "int", lo=0, hi=9999, label="seed"),
]
messages = urlsync.url_settings(PAGE, PARAMS)
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys

c = st.columns([3, 1, 1])
trials = int(c[0].slider("Trials", 1, MAX_TRIALS, key=K("trials"),
                         help="Total completed trials the study should have; a run adds the missing ones"))
count = int(c[1].selectbox("Validation images", IMAGE_CHOICES, key=K("images"), format_func=lambda n: f"{n:,}",
                           help="Each trial looks up this many validation images with exact search"))
seed = int(c[2].number_input("Seed", 0, 9999, key=K("seed"), help="Seed of the sampler (a new seed = a new study)"))

journal = artifacts_root() / "bo" / "app.journal"
study_name = f"app-{table.model_hash}-{len(table)}rows-val{count}-seed{seed}"


def _load() -> optuna.Study | None:
    try:
        storage = open_storage(None, journal)
        if study_name not in optuna.get_all_study_names(storage):
            return None
        return optuna.load_study(study_name=study_name, storage=storage)
    except (furniture.USER_ERRORS + (KeyError,)) as exc:
        st.error(f"The study could not be read: {furniture.friendly(exc)}")
        return None


study = _load()
done = [] if study is None else completed_trials(study.trials)
remaining = max(0, trials - len(done))
st.caption(f"Study `{study_name}` (Optuna journal `$MBI_HOME/bo/app.journal`): {len(done)} completed trials. "
           f"Each trial looks up {count:,} "
           f"validation images on the whole table ({len(table):,} rows).")
run = st.button(f"Run {remaining} more trial{'s' if remaining != 1 else ''}" if remaining else
                "The study has all its trials (raise 'Trials' to continue)", key="run_bo", type="primary",
                disabled=remaining == 0, icon=":material/play_arrow:")

if run:
    model = models.load_or_stop()[0]
    x, y = data.val_x[:count], data.val_y[:count]
    live = optuna.create_study(direction="maximize")
    for t in done:
        live.add_trial(t)
    with st.status(f"Running {remaining} trials ...", expanded=True) as status:
        bar = st.progress(0.0)
        chart = st.empty()
        seen = {"n": 0}

        def _trial_done(trial: optuna.trial.FrozenTrial) -> None:
            seen["n"] += 1
            live.add_trial(trial)
            w = trial.user_attrs.get("weights", [])
            bar.progress(min(1.0, seen["n"] / remaining),
                         text=f"Trial {trial.number}: {100 * (trial.value or 0):.2f}% with "
                              f"{session_weights.weights_text(w) if w else '-'}")
            chart.plotly_chart(furniture.fit_narrow(plot_optimization_history(live)), key=f"bo_live_{seen['n']}",
                               config={"displaylogo": False})

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = run_bo(model, table, x, y, n_trials=trials, storage=None, study_name=study_name, seed=seed,
                                default_journal=journal, callback=_trial_done)
        except furniture.USER_ERRORS as exc:
            status.update(label="The study stopped", state="error")
            st.error(f"The metric search stopped: {furniture.friendly(exc)}")
        else:
            status.update(label=f"Done: best {100 * result.best_accuracy:.2f}% on validation", state="complete",
                          expanded=False)
            st.rerun()  # redraw the page from the finished study
    study = _load()
    done = [] if study is None else completed_trials(study.trials)

if not done:
    st.info("No trials yet for these settings: press the button to start the search (a few seconds per trial).",
            icon=":material/hourglass_empty:")
    urlsync.sync_url(PAGE, PARAMS, messages)
    st.stop()

found = summarize(done)
best_w = found.best_weights
m = st.columns(4)
m[0].metric("Best validation accuracy", f"{100 * found.best_accuracy:.2f}%", help=f"trial {found.best_number}")
m[1].metric("Unweighted (trial 0)",
            "-" if found.unweighted_accuracy is None else f"{100 * found.unweighted_accuracy:.2f}%")
m[2].metric("Gain", "-" if found.gain is None else f"{100 * found.gain:+.2f} points",
            help="Validation noise with a few hundred images is about a point: judge gains against it")
m[3].metric("Best weights", session_weights.weights_text(best_w).split("= ")[1], help="a : b : c, with a = 1")

in_use = session_weights.current_weights() == session_weights.as_session_weights(best_w)
cols = st.columns([2, 3])
if in_use:
    cols[0].success("These weights are in use on every lookup page.", icon=":material/check_circle:")
else:
    source = f"the metric search (best of {len(done)} trials on {count:,} validation images)"
    cols[0].button("Apply the best weights everywhere", key="apply_best", type="primary", icon=":material/done_all:",
                   on_click=session_weights.set_weights, args=(best_w, source))
cols[1].caption(f"Now in use: {session_weights.weights_text(session_weights.current_weights())} ({session_weights.weights_source()}).")

figures = [("history", plot_optimization_history), ("slice", plot_slice), ("contour", plot_contour)]
# Short tab labels fit a phone's width; the figures' own titles say what each plots.
tabs = st.tabs(["History", "Slice", "Contour"])
for tab, (name, builder) in zip(tabs, figures):
    with tab:
        try:
            fig = builder(study) if name == "history" else builder(study, params=PARAMS_NAMES)
        except (ValueError, TypeError, KeyError) as exc:
            st.info(f"Not enough trials for this plot yet ({furniture.friendly(exc)}).")
            continue
        furniture.plot(fig, key=f"bo_{name}", download_name=f"mbi-bo-{name}")
st.caption("a is fixed to 1: eq. (1) divides by a + b + c, so only the ratios b/a and c/a matter "
           f"(searched on a log scale in [{RATIO_RANGE[0]:g}, {RATIO_RANGE[1]:g}]).")

frame = pd.DataFrame(trial_table(done))
furniture.table(frame, key="bo_table", max_rows=30)
furniture.csv_download(frame, "mbi-metric-search", key="dl_bo")



def _apply_hand() -> None:
    weights = from_ratios(st.session_state["hand_wb"], st.session_state["hand_wc"])
    session_weights.set_weights(weights, "set by hand on the metric search page")


with st.expander("Set the weights by hand"):
    h = st.columns(3)
    h[0].number_input("b/a (hidden state)", RATIO_RANGE[0], RATIO_RANGE[1], value=1.0, key="hand_wb")
    h[1].number_input("c/a (location)", RATIO_RANGE[0], RATIO_RANGE[1], value=1.0, key="hand_wc")
    h[2].button("Apply these weights everywhere", key="apply_hand", on_click=_apply_hand)
urlsync.sync_url(PAGE, PARAMS, messages)
