"""RAM hyperparameters (Fig. 3): every knob, live training in the background, run comparison, sweep results.

The training form starts from the configuration of the model chosen in the sidebar (clamped to this
server's limits), and "Train a smaller copy of this model" trains that architecture briefly, within the
hosted limits (``mbi.runs.jobs.smaller_copy``), in one click.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st

from mbi import plots
from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.data import dataset_info
from mbi.runs.jobs import WIDTH_FIELDS, BusyError, Job, Limits, limits_from_env, list_runs, smaller_copy
from mbi.store import SPECS_DIR, artifacts_root
from mbi.runs.sweep import SweepSpec, default_storage, open_study, results_table
from mbi.urlstate import Param
from dashboard import furniture, models, urlsync

PAGE = "ram"
SWEEPS = {"fig3a": "Fig. 3(a): glimpses, patch size, scale, patches",
          "fig3b": "Fig. 3(b): patch and hidden-state bits",
          "fig3c": "Fig. 3(c): hidden size and core layers"}
PAPER_TRENDS = {
    "fig3a": "Paper: more glimpses help until they saturate; larger patches help then saturate; a larger glimpse "
             "scale hurts (the whole image squeezed into a few pixels); more patches help up to a point.",
    "fig3b": "Paper: accuracy is flat across patch and hidden bits, except 1-bit patches, which lose information.",
    "fig3c": "Paper: a wider hidden state helps a little; one extra core layer is best.",
}
VIEWS = {"train": "Train a model", "compare": "Compare runs", "sweeps": "Sweep results (Fig. 3)"}
WIDTHS = (16, 32, 64, 128, 256, 512, 1024)
BITS = (1, 2, 3, 4, 8, None)
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
IMAGE_COUNTS = (500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
VAL_COUNTS = (500, 1000, 2000, 5000, 10_000)

furniture.intro(
    "RAM hyperparameters",
    "Every knob of the recurrent attention model changes how much it sees per glimpse and how much it remembers. "
    "Train a small model here and watch its loss and accuracy live (training runs in the background: you can "
    "leave the page), compare trained runs, or read the sweep results behind the paper's Fig. 3.",
    "Fig. 3(a), (b), (c)",
)

try:
    limits: Limits = limits_from_env()
except ValueError as exc:
    st.error(furniture.friendly(exc))
    st.stop()
try:
    selected: RunConfig = models.current_config()
except furniture.USER_ERRORS as exc:
    st.warning(f"The chosen model's configuration could not be read ({furniture.friendly(exc)}); the form starts "
               "from the package defaults.")
    selected = RunConfig()
base, base_train = selected.ram, selected.train


def _counts(options: tuple[int, ...], cap: int) -> tuple[int, ...]:
    kept = tuple(c for c in options if c <= cap)
    return kept if kept and kept[-1] == cap else kept + (cap,)


train_counts = _counts(IMAGE_COUNTS, limits.max_train_images)
val_counts = _counts(VAL_COUNTS, limits.max_val_images)
widths = tuple(w for w in WIDTHS if w <= limits.max_hidden)


def _width_default(value: int) -> int:
    return value if value in widths else max([w for w in widths if w <= value] or widths[:1])


def _choice_default(value: object, choices: tuple, fallback: object) -> object:
    return value if value in choices else fallback


def _int_default(value: int, lo: int, hi: int) -> int:
    return int(min(max(value, lo), hi))


PARAMS = [
    Param("view", "train", "choice", choices=tuple(VIEWS), label="view"),
    Param("sweep", "fig3a", "choice", choices=tuple(SWEEPS), label="sweep"),
    Param("num_glimpses", _int_default(base.num_glimpses, 1, 16), "int", lo=1, hi=16, label="glimpses"),
    Param("patch_size", _int_default(base.patch_size, 1, 12), "int", lo=1, hi=12, label="patch size"),
    Param("glimpse_scale", _int_default(base.glimpse_scale, 1, 4), "int", lo=1, hi=4, label="glimpse scale"),
    Param("num_patches", _int_default(base.num_patches, 1, 5), "int", lo=1, hi=5, label="patches per glimpse"),
    Param("hidden_size", _width_default(base.hidden_size), "choice", choices=widths, label="hidden size"),
    Param("core_layers", _int_default(base.core_layers, 0, 4), "int", lo=0, hi=4, label="extra core layers"),
    Param("state_size", _width_default(base.state_size), "choice", choices=widths, label="hidden-state width"),
    Param("glimpse_hidden", _width_default(base.glimpse_hidden), "choice", choices=widths, label="glimpse hidden"),
    Param("loc_hidden", _width_default(base.loc_hidden), "choice", choices=widths, label="location hidden"),
    Param("glimpse_size", _width_default(base.glimpse_size), "choice", choices=widths, label="glimpse feature"),
    Param("patch_bits", _choice_default(base.patch_bits, BITS, 2), "choice", choices=BITS, label="patch bits"),
    Param("hidden_bits", _choice_default(base.hidden_bits, BITS, 1), "choice", choices=BITS, label="hidden bits"),
    Param("loc_std", round(min(max(base.loc_std, 0.02), 0.5), 2), "float", lo=0.02, hi=0.5, step=0.01,
          label="location noise"),
    Param("loc_grid", _int_default(base.loc_grid, 2, 28), "int", lo=2, hi=28, label="location grid"),
    Param("epochs", _int_default(base_train.epochs, 1, limits.max_epochs), "int", lo=1, hi=limits.max_epochs,
          label="epochs"),
    Param("train_images", max([c for c in train_counts if c <= (base_train.train_limit or 50_000)] or train_counts[:1]),
          "choice", choices=train_counts, label="training images"),
    Param("val_images", max([c for c in val_counts if c <= (base_train.val_limit or 10_000)] or val_counts[:1]),
          "choice", choices=val_counts, label="validation images"),
    Param("batch_size", _choice_default(base_train.batch_size, (32, 64, 128, 256), 128), "choice",
          choices=(32, 64, 128, 256), label="batch size"),
    Param("lr", _choice_default(base_train.lr, LRS, 1e-3), "choice", choices=LRS, label="learning rate"),
    Param("seed", _int_default(base_train.seed, 0, 9999), "int", lo=0, hi=9999, label="seed"),
    Param("augment_shift", _int_default(base_train.augment_shift, 0, 4), "int", lo=0, hi=4,
          label="shift augmentation"),
]
FORM = [p for p in PARAMS if p.name not in ("view", "sweep")]
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys
if st.session_state.get("_ram_form_model") != models.current_model_key():
    # another model was chosen: the form starts again from its configuration
    for p in FORM:
        st.session_state.pop(K(p.name), None)
        st.session_state.pop(f"_keep.{K(p.name)}", None)
    st.session_state["_ram_form_model"] = models.current_model_key()
messages = urlsync.url_settings(PAGE, PARAMS)

view = st.segmented_control("Show", list(VIEWS), format_func=VIEWS.get, key=K("view"), required=True)


# --------------------------------------------------------------------------- train


def _bits(value: int | None) -> str:
    return "float" if value is None else f"{value} bit"


def _knobs() -> RunConfig | None:
    """Every knob as a widget; the validated config, or None (with the reason shown) when it is invalid."""
    st.markdown("**Architecture** (the paper's Fig. 3 knobs)")
    c = st.columns(4)
    c[0].slider("Glimpses", 1, 16, key=K("num_glimpses"), help="Steps the RAM takes; each step is one lookup in MBI")
    c[1].slider("Patch size (px)", 1, 12, key=K("patch_size"), help="Side of the finest patch")
    c[2].slider("Glimpse scale", 1, 4, key=K("glimpse_scale"), help="Each further patch covers this many times more")
    c[3].slider("Patches per glimpse", 1, 5, key=K("num_patches"))
    c = st.columns(4)
    c[0].select_slider("Hidden size", widths, key=K("hidden_size"), help="Width of the core's first layer")
    c[1].slider("Extra core layers", 0, 4, key=K("core_layers"))
    c[2].select_slider("Hidden-state width", widths, key=K("state_size"),
                       help="Output of the core: the hidden state h_t that becomes part of the lookup key")
    c[3].slider("Location grid", 2, 28, key=K("loc_grid"), help="Locations are cells of an N x N grid")
    c = st.columns(4)
    c[0].select_slider("Patch bits", BITS, format_func=_bits, key=K("patch_bits"))
    c[1].select_slider("Hidden-state bits", BITS, format_func=_bits, key=K("hidden_bits"))
    c[2].slider("Location noise (std)", 0.02, 0.5, step=0.01, key=K("loc_std"),
                help="Exploration of the location policy during training (REINFORCE)")
    with c[3].popover("Glimpse network widths"):
        st.select_slider("Glimpse hidden", widths, key=K("glimpse_hidden"))
        st.select_slider("Location hidden", widths, key=K("loc_hidden"))
        st.select_slider("Glimpse feature", widths, key=K("glimpse_size"))
    st.markdown("**Training**" + (" (limited on this hosted server)" if limits.hosted else ""))
    c = st.columns(4)
    if limits.max_epochs > 1:
        c[0].slider("Epochs", 1, limits.max_epochs, key=K("epochs"))
    else:
        c[0].number_input("Epochs", 1, 1, key=K("epochs"))
    c[1].select_slider("Training images", train_counts, format_func=lambda n: f"{n:,}", key=K("train_images"))
    c[2].select_slider("Validation images", val_counts, format_func=lambda n: f"{n:,}", key=K("val_images"))
    c[3].select_slider("Learning rate", LRS, format_func=lambda v: f"{v:g}", key=K("lr"))
    c = st.columns(4)
    c[0].select_slider("Batch size", (32, 64, 128, 256), key=K("batch_size"))
    c[1].number_input("Seed", 0, 9999, key=K("seed"))
    c[2].slider("Shift augmentation (px)", 0, 4, key=K("augment_shift"))
    v = {p.name: st.session_state[K(p.name)] for p in PARAMS}
    try:
        ram = RAMConfig(**{k: v[k] for k in ("num_glimpses", "patch_size", "glimpse_scale", "num_patches",
                                             "glimpse_hidden", "loc_hidden", "glimpse_size", "hidden_size",
                                             "core_layers", "state_size", "patch_bits", "hidden_bits", "loc_std",
                                             "loc_grid")})
        threads = 1 if limits.hosted else max(1, min(4, os.cpu_count() or 1))
        train = TrainConfig(epochs=int(v["epochs"]), batch_size=v["batch_size"], lr=v["lr"], lr_min=v["lr"] / 100,
                            seed=int(v["seed"]), num_threads=threads, train_limit=v["train_images"],
                            val_limit=v["val_images"], augment_shift=int(v["augment_shift"]))
        cfg = RunConfig(ram, train, selected.dataset)
        limits.check(cfg)
    except ValueError as exc:
        st.error(f"This combination cannot be trained: {furniture.friendly(exc)}")
        return None
    st.caption(f"Key per glimpse: {ram.patch_vector_len} patch values x {_bits(ram.patch_bits)}, "
               f"{ram.state_size} hidden values x {_bits(ram.hidden_bits)}, 2 location values; widest patch "
               f"{ram.largest_patch} px. Trains on {dataset_info(cfg.dataset).title}, the chosen model's dataset "
               "(choose a model of the other dataset in the sidebar to train on its images).")
    return cfg


def _widest(cfg: RunConfig) -> int:
    """The widest layer of ``cfg``."""
    return max(getattr(cfg.ram, n) for n in WIDTH_FIELDS)


def _live(job_id: str) -> None:
    """Progress, curves and the stop button of one job (rerun every second while it trains)."""
    job: Job | None = manager.get(job_id)
    if job is None:
        st.info("That training run belongs to an earlier server session; find its results under 'Compare runs'.")
        return
    view = job.view()
    ev = view.last
    label = {"starting": "Loading data ...", "running": "Training", "stopping": "Stopping after this batch ...",
             "stopped": "Stopped by request (finished epochs are kept)", "done": "Finished",
             "failed": "Failed"}[view.state]
    where = f": epoch {ev.epoch}/{ev.epochs}" if ev and ev.kind in ("batch", "epoch") else ""
    st.progress(view.progress, text=f"**{furniture.plain(view.name)}** - {label}{where}")
    batch_pts, epoch_pts = view.curves()
    furniture.plot(plots.live_training(batch_pts, epoch_pts, title=f"Training '{furniture.plotly_text(view.name)}'"),
                   key="live_curves")
    if view.active:
        st.button("Stop training", key="stop_training", icon=":material/stop:", on_click=job.stop,
                  disabled=view.state == "stopping")
    elif view.state == "failed":
        st.error(f"The run failed: {furniture.plain(view.error)}")
    else:
        best = next((e.best_val_acc for e in reversed(view.events) if e.best_val_acc is not None), None)
        if best is not None and best >= 0:
            st.success(f"Best validation accuracy {100 * best:.2f}%. The run is saved in `{view.run_dir}`.")
        if (view.run_dir / "model.pt").is_file():
            c = st.columns(2)
            c[0].button("Use this model on every page", key="use_model", on_click=models.set_model,
                        args=(view.run_dir.name,), icon=":material/check:")
            c[1].download_button("Download run (zip)", data=lambda: furniture.zip_folder(view.run_dir),
                                 file_name=f"{view.run_dir.name}.zip", mime="application/zip", key="dl_run",
                                 icon=":material/download:")
    if view.state in ("stopped", "failed") and (view.run_dir / "last.pt").is_file():
        _continue_buttons(job)
    if st.session_state.get("_live_was_active") and not view.active:
        st.session_state["_live_was_active"] = False
        st.rerun(scope="app")  # refresh the page: the run list and the model choice now include it
    st.session_state["_live_was_active"] = view.active


def _form_values(cfg: RunConfig) -> dict[str, object]:
    """The form's widget values that describe ``cfg`` (widths snapped to the offered ones)."""
    r, t = cfg.ram, cfg.train
    values: dict[str, object] = {n: getattr(r, n) for n in ("num_glimpses", "patch_size", "glimpse_scale",
                                                           "num_patches", "core_layers", "patch_bits", "hidden_bits",
                                                           "loc_std", "loc_grid")}
    values.update({n: _width_default(getattr(r, n)) for n in WIDTH_FIELDS})
    values.update(epochs=t.epochs, train_images=t.train_limit or 50_000, val_images=t.val_limit or 10_000,
                  batch_size=t.batch_size, lr=t.lr, seed=t.seed, augment_shift=t.augment_shift)
    return values


def _train_smaller_copy() -> None:
    """Set the form to a short training of the chosen model's architecture and ask for it to start."""
    for name, value in _form_values(smaller_copy(selected, limits)).items():
        st.session_state[K(name)] = value
    st.session_state["run_name"] = "smaller copy"
    st.session_state["_start_copy"] = True


def _continue_buttons(job: Job) -> None:
    """Continue a stopped or failed run in its folder; when its last epoch cannot be read, say which file is
    damaged and offer its best checkpoint or a fresh start (the old files are kept aside, nothing deleted)."""
    from mbi.model.train import resume_problem  # torch: only once a run has stopped

    problem = resume_problem(job.run_dir)
    choices = {"last": "Continue training"} if problem is None else {}
    if problem is not None:
        st.warning(f"This run cannot continue from its last epoch: {furniture.plain(problem.reason)}. Nothing was "
                   "deleted: the files a restart replaces are kept in a before-restart folder of the run.")
        if problem.best_epoch is not None:
            choices["best"] = f"Continue from the last good checkpoint (epoch {problem.best_epoch})"
        choices["scratch"] = "Start this run again from scratch"
    cols = st.columns(len(choices))
    for col, (start, text) in zip(cols, choices.items()):
        if col.button(text, key=f"resume_{start}", icon=":material/play_arrow:", disabled=manager.active() is not None):
            try:
                new = manager.resume(job.id, start, owner=st.session_state.setdefault("_owner", uuid.uuid4().hex))
            except (BusyError, ValueError) as exc:
                st.warning(furniture.friendly(exc))
                return
            st.session_state["train_job"] = new.id
            st.session_state["_live_was_active"] = True
            st.rerun(scope="app")


def _train_view() -> None:
    cfg = _knobs()
    active = manager.active()
    mine = st.session_state.get("train_job")
    try:
        copy = smaller_copy(selected, limits)
    except ValueError:
        copy = None
    if copy is not None:
        st.button("Train a smaller copy of this model", key="train_copy", on_click=_train_smaller_copy,
                  disabled=active is not None, icon=":material/content_copy:",
                  help=f"The chosen model's {copy.ram.num_glimpses} glimpses of {copy.ram.num_patches} x "
                       f"{copy.ram.patch_size}x{copy.ram.patch_size} px, widths up to {_widest(copy)}, "
                       f"{copy.train.epochs} epochs on {copy.train.train_limit:,} images: within the hosted limits")
    c = st.columns([2, 1])
    st.session_state.setdefault("run_name", "my run")
    name = c[0].text_input("Run name", max_chars=40, key="run_name")
    busy = active is not None and active.id != mine
    if busy:
        v = active.view()
        st.info(f"Another visitor's run ('{furniture.plain(v.name)}') is training on this server ({100 * v.progress:.0f}% done). "
                "One run trains at a time; start yours when it finishes.")
    own_active = active is not None and active.id == mine
    start_copy = bool(st.session_state.pop("_start_copy", False))
    if c[1].button("Start training", type="primary", disabled=cfg is None or active is not None,
                   icon=":material/play_arrow:", key="start_training") or (start_copy and cfg is not None
                                                                            and active is None):
        try:
            job = manager.start(cfg, name=name, owner=st.session_state.setdefault("_owner", uuid.uuid4().hex))
        except (BusyError, ValueError) as exc:
            st.warning(furniture.friendly(exc))
        else:
            st.session_state["train_job"] = job.id
            st.session_state["_live_was_active"] = True
            mine, own_active = job.id, True
    if mine:
        runner = st.fragment(run_every=1.0)(_live) if own_active else st.fragment(_live)
        runner(mine)


# --------------------------------------------------------------------------- compare


def _compare_view() -> None:
    runs = list_runs(artifacts_root(), include_sweeps=True)
    try:
        default_cfg, default_metrics = _default_model_info()
    except furniture.USER_ERRORS as exc:
        st.error(f"The shipped default model could not be read: {furniture.friendly(exc)}")
        return
    options = {"default": "Shipped default model"}
    histories = {"default": default_metrics.get("history", [])}
    rows = [_run_row("Shipped default model", default_cfg, default_metrics.get("best_val_acc"),
                     default_metrics.get("test_acc"))]
    for r in runs:
        key = str(r.path)
        options[key] = f"{r.name} ({r.path.parent.name}/{r.path.name})"
        histories[key] = r.history
        rows.append(_run_row(options[key], r.config, r.best_val_acc, r.test_acc))
    if len(options) == 1:
        st.info("No trained runs yet: train one under 'Train a model' (or with `python -m mbi train --out "
                "artifacts/runs/app/NAME`), and it appears here.")
    chosen = st.multiselect("Runs to compare", list(options), default=list(options)[:4], format_func=options.get,
                            key="compare_runs")
    fig = plots.runs_comparison({furniture.plotly_text(options[k]): histories[k] for k in chosen},
                                reference_pct={"authors' code, 1-bit hidden: 96.00%": 96.0})
    furniture.plot(fig, key="compare_fig", download_name="mbi-runs-comparison")
    table = pd.DataFrame(rows)
    table = table[table["run"].isin([options[k] for k in chosen])]
    furniture.table(table, key="runs_table")
    furniture.csv_download(table, "mbi-runs", key="dl_runs")


@st.cache_data(max_entries=2)
def _default_info(stamp: float) -> tuple[dict, dict]:
    from mbi.model.checkpoint import load_config, load_metrics

    return load_config("default").to_dict(), load_metrics("default")


def _default_model_info() -> tuple[RunConfig, dict]:
    folder = models.model_folder("default")
    stamp = (folder / "metrics.json").stat().st_mtime if (folder / "metrics.json").is_file() else 0.0
    cfg, metrics = _default_info(stamp)
    return RunConfig.from_dict(cfg), metrics


def _run_row(name: str, cfg: RunConfig, best: float | None, test: float | None) -> dict:
    r = cfg.ram
    return {"run": name, "glimpses": r.num_glimpses, "patch": f"{r.num_patches} x {r.patch_size}px (x{r.glimpse_scale})",
            "hidden": f"{r.hidden_size}/{r.core_layers}+{r.state_size}", "bits (patch/hidden)":
            f"{r.patch_bits or 'float'}/{r.hidden_bits or 'float'}", "epochs": cfg.train.epochs,
            "training images": cfg.train.train_limit or 50_000,
            "best val acc (%)": None if best is None else round(100 * best, 2),
            "test acc (%)": None if test is None else round(100 * test, 2)}


# --------------------------------------------------------------------------- sweeps


@st.cache_data(max_entries=8, show_spinner=False)
def _sweep_rows(name: str, root: str, stamp: float) -> list[dict]:
    spec = SweepSpec.load(SPECS_DIR / f"{name}.json")
    table = results_table(spec, open_study(spec, None, Path(root)))
    return table.drop(columns=["item"], errors="ignore").to_dict("records")


def _sweeps_view() -> None:
    name = st.radio("Sweep", list(SWEEPS), format_func=SWEEPS.get, key=K("sweep"), horizontal=True)
    spec = SweepSpec.load(SPECS_DIR / f"{name}.json")
    root = artifacts_root()
    journal = default_storage(spec, root)
    st.caption(PAPER_TRENDS[name])
    if not journal.is_file():
        st.info(f"No results for {spec.meta.get('figure', name)} yet. Run the sweep with "
                f"`python -m mbi sweep mbi/specs/{name}.json` (results go to `{journal}`), then reload this page.")
        return
    try:
        rows = _sweep_rows(name, str(root), journal.stat().st_mtime)
    except (ValueError, OSError, RuntimeError) as exc:
        st.error(f"The sweep results could not be read: {furniture.friendly(exc)}")
        return
    done = [r for r in rows if r.get("state") == "COMPLETE"]
    st.caption(f"{len(done)} of {len(spec.items())} trials finished "
               f"({spec.base.train.epochs} epochs on {spec.base.train.train_limit or 50_000:,} images each; "
               "objective: best validation accuracy).")
    title = f"{spec.meta.get('figure', name)}: {spec.meta.get('what', '')}"
    if spec.mode == "one-at-a-time":
        fig = plots.sweep_one_at_a_time(rows, [a.split('.', 1)[1] for a in spec.axes], title)
    else:
        x, series = [a.split(".", 1)[1] for a in spec.axes][:2]
        fig = plots.sweep_grid_lines(rows, x, series, title)
    furniture.plot(fig, key="sweep_fig", download_name=f"mbi-{name}")
    table = pd.DataFrame(rows)
    furniture.table(table, key="sweep_table")
    furniture.csv_download(table, f"mbi-{name}", key="dl_sweep")


manager = models.training_manager()
if view == "train":
    _train_view()
elif view == "compare":
    _compare_view()
else:
    _sweeps_view()
urlsync.sync_url(PAGE, PARAMS, messages)
