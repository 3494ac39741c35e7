"""Overview: the pipeline at a glance, the chosen model's headline numbers beside the paper's, a guided tour
with a 3-minute class demo (links that open each page's view) and a canvas to draw a digit on.

The first view draws from small recorded facts (config, metrics, lookup settings and the model's
precomputed ``example.json``), so it needs neither torch nor MNIST; they load only when the
visitor asks for other digits than the example's (or the model has no example), or turns the canvas on.
"""

from __future__ import annotations

import streamlit as st

from mbi import plots
from mbi.data import dataset_info
from dashboard import furniture, models

PAGE = "overview"
GALLERY = 4

furniture.intro(
    "MBI Explorer",
    "A **recurrent attention model** (RAM) reads a digit through a few tiny, quantized *glimpses*. "
    "**Memorization-based inference** (MBI) replaces its arithmetic by lookups in a table distilled from it, "
    "searched in an SRAM array that computes distances in memory. "
    "This page shows the whole pipeline, how the chosen model compares with the paper, and where to go next.",
    "Fig. 2 (the pipeline) and Table I (headline numbers)",
)

try:
    cfg, metrics = models.current_config(), models.current_metrics()
except furniture.USER_ERRORS as exc:
    st.error(f"The model could not be loaded: {furniture.friendly(exc)}")
    st.stop()
ram = cfg.ram


def _core_ready(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


STAGES = [
    dict(name=dataset_info(cfg.dataset).title, detail="50k / 10k / 10k", ready=True),
    dict(name="RAM", detail=f"{ram.num_glimpses} quantized\nglimpses", ready=True),
    dict(name="Table", detail="distilled\nkey -> value", ready=_core_ready("mbi.memory.lut")),
    dict(name="Search", detail="weighted Manhattan,\nk-means tree", ready=_core_ready("mbi.search.searchers")),
    dict(name="Inference", detail="lookups only\nor mixed", ready=_core_ready("mbi.inference.lookup")),
    dict(name="Hardware", detail="SRAM search,\nenergy", ready=_core_ready("mbi.hardware.sram")),
]
PIPELINE_TITLE = "The MBI pipeline (filled = available in this copy)"
# An SVG image, not a Plotly figure: the first figure is drawn without waiting for Plotly's 4.6 MB chunk
# (BENCHMARKS.md, cold start).
furniture.image(plots.pipeline_svg(STAGES, PIPELINE_TITLE), PIPELINE_TITLE, width="content",
                alt="The MBI pipeline, left to right: " + "; ".join(
                    f"{s['name']} ({s['detail']})".replace("\n", " ") + ("" if s["ready"] else ", not yet available")
                    for s in STAGES))

# The rest of the page's imports come after its first figure: on a fresh server they cost about half a CPU-second
# (pandas, the hardware model, the drawing canvas), during which the browser already draws it
# (BENCHMARKS.md, cold start).
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mbi.hardware.energy import (PAPER_INFERENCE_ENERGY_J, PAPER_KEYS_PER_LEVEL, PAPER_LEVELS,  # noqa: E402
                                 PAPER_MATCH_ENERGY_J, PAPER_MBI_ACCURACY_PCT, PAPER_MBI_STORAGE_MB, format_energy,
                                 match_energy, our_table_row)
from mbi.hardware.sram import build_layout, key_parts_from_ram  # noqa: E402
from mbi.memory.recipe import TableRecipe  # noqa: E402
from mbi.urlstate import Param  # noqa: E402
from dashboard import demo, drawing, urlsync  # noqa: E402

example = models.current_example()
test_size = int(example["test_size"]) if example else len(models.load_or_stop()[3].test_y)
PARAMS = [Param("first", 0, "int", lo=0, hi=test_size - GALLERY, label="first test image")]
messages = urlsync.url_settings(PAGE, PARAMS)

# --------------------------------------------------------------------------- headline numbers


def _pct(value: object) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "not recorded"


def _test_or_val(metrics: dict) -> str:
    """Test accuracy when recorded (``python -m mbi evaluate --record``), else the best validation accuracy."""
    if isinstance(metrics.get("test_acc"), (int, float)):
        return _pct(metrics["test_acc"])
    val = metrics.get("best_val_acc")
    return f"{_pct(val)} (validation)" if isinstance(val, (int, float)) and val >= 0 else "not recorded"


def _table_contents(recipe: TableRecipe) -> str:
    """One line on what the table memorizes (the recipe in ``lookup.json``; absent = the paper's)."""
    episodes = {"1px": "every training digit's episode, also shifted by one pixel in 4 directions",
                "2px": "every training digit's episode, also shifted by one and by two pixels in 4 directions"}.get(
        recipe.shifts, "every training digit's episode")
    readout = "the training label" if recipe.readout == "label" else "the RAM's own class readout"
    return f"{episodes}; class stored: {readout}"


try:
    ours = our_table_row(models.model_folder(models.current_model_name()))
except furniture.USER_ERRORS as exc:
    st.error(f"Our row of Table I could not be built: {furniture.friendly(exc)}")
    st.stop()
layout = build_layout(key_parts_from_ram(ram), ours.encoding, 32)
match_j = match_energy()["total"]
n_params = (int(example["parameters"]) if example
            else sum(p.numel() for p in models.load_or_stop()[0].parameters()))
recorded = models.lookup_settings_of()
lookup_acc = recorded.split("test").lookup_accuracy
mixed_acc = recorded.split("test").mixed_accuracy
mixed_share = recorded.split("test").mixed_lookup_share
not_yet = "not yet recorded (python -m mbi lookup --split test --record)"
rows = [
    ("RAM test accuracy, quantized", _test_or_val(metrics), "96.00% (authors' code, 1-bit hidden, 2-bit patch)"),
    ("same weights, quantizers bypassed", _pct(metrics.get("test_acc_quantizers_bypassed")),
     "98.05% (authors' code, float model)"),
    ("Lookup-only accuracy", _pct(lookup_acc) if lookup_acc is not None else not_yet, "89.19% (authors' code, BO weights)"),
    ("Mixed MBI accuracy", f"{_pct(mixed_acc)} with {_pct(mixed_share)} by lookup" if mixed_acc is not None
     else not_yet,
     f"{PAPER_MBI_ACCURACY_PCT}% at 69.65% lookup share (Table I)"),
    ("Table storage", f"{recorded.table_mb:.2f} MB packed, {recorded.table_rows:,} rows"
     if recorded.table_mb is not None and recorded.table_rows is not None else not_yet,
     f"{PAPER_MBI_STORAGE_MB} MB (Table I)"),
    ("Table contents", _table_contents(recorded.table),
     "every training digit's episode, the RAM's own class readout"),
    ("RAM weights", f"{n_params:,} parameters ({4 * n_params / 1e6:.2f} MB as float32)", "-"),
    ("Key length", f"{layout.n_columns} SRAM columns on {layout.n_arrays} arrays of 32 ({ours.encoding} coding)",
     "5 splits of the key"),
    ("Energy per 32x32 key match", f"{1e12 * match_j:.2f} pJ (our circuit model, the paper's 2-bit binary array)",
     f"{1e12 * PAPER_MATCH_ENERGY_J:g} pJ (Fig. 6(c))"),
    ("Energy per inference", f"{format_energy(ours.energy_j)} assuming {ours.traversal_text}",
     f"{format_energy(PAPER_INFERENCE_ENERGY_J)} = 5 glimpses x {PAPER_LEVELS} levels x {PAPER_KEYS_PER_LEVEL} keys "
     f"x 5 splits x {1e12 * PAPER_MATCH_ENERGY_J:g} pJ (Table I)"),
]
headline = pd.DataFrame(rows, columns=["what", "chosen model", "paper / authors"])
cols = st.columns(4)
cols[0].metric("RAM accuracy", _test_or_val(metrics),
               help="One deterministic pass (location = policy mean), quantized: over the 10,000 test digits "
                    "when recorded, else the best validation accuracy of training.")
cols[1].metric("Glimpses x patches", f"{ram.num_glimpses} x {ram.num_patches} of {ram.patch_size}x{ram.patch_size}")
cols[2].metric("Bits (patch / hidden)", f"{ram.patch_bits or 'float'} / {ram.hidden_bits or 'float'}")
cols[3].metric("Energy per inference (ours)", format_energy(ours.energy_j),
               delta=f"paper {format_energy(PAPER_INFERENCE_ENERGY_J)}", delta_color="off", delta_arrow="off",
               help=f"Our row of Table I ({ours.traversal}): {ours.traversal_text}")
st.subheader("The chosen model beside the paper")
furniture.text_table(headline)
furniture.csv_download(headline, "mbi-headline-numbers", key="dl_headline")
st.caption("Paper numbers from Table I and Fig. 6; 'authors' code' numbers are the authors' published RAM results. "
           f"Energy per inference is our row of Table I (as `python -m mbi energy` and the reproduce report show it), "
           f"assuming {ours.traversal_text}.")

# --------------------------------------------------------------------------- the guided path

st.subheader("A guided path for a class demo")
st.markdown("Each page opens with a few plain sentences and the paper figure it reproduces.")
st.page_link("dashboard/pages/ram_hyperparameters.py", label="1. RAM hyperparameters (Fig. 3): what each knob does to "
             "accuracy; train a small model live and compare runs.", icon=":material/tune:")
st.page_link("dashboard/pages/glimpse_paths.py", label="2. Glimpse paths: follow the RAM glimpse by glimpse on a test digit "
             "or your own, seeing the quantized patches it reads.", icon=":material/visibility:")
st.page_link("dashboard/pages/sram_energy.py", label="3. SRAM and energy (Fig. 6, Table I): how variation blurs the "
             "in-memory distances, and what one inference costs.", icon=":material/memory:")
st.caption("Table size, metric search, cluster tree and mixed MBI pages follow once the lookup table is distilled.")

st.markdown("**A 3-minute class demo**: five links, each opening a page on the view to talk about.")
demo.render()

if st.toggle("Draw a digit and watch the network and the table part ways", key="overview_draw",
             help="A canvas; your digit goes through the RAM and through the lookup table, glimpse by glimpse"):
    drawing.draw_and_compare("overview")

# --------------------------------------------------------------------------- glimpse gallery

st.subheader("Where the model looks")
start = st.number_input("First test image", min_value=0, max_value=test_size - GALLERY, step=GALLERY,
                        key=urlsync.wkey(PAGE, "first"), help="Index into the 10,000-image test split")
values = urlsync.sync_url(PAGE, PARAMS, messages)
gallery = example["gallery"] if example else None
if gallery is None or gallery["first"] != int(start) or len(gallery["labels"]) < GALLERY:
    from mbi.model.gallery import glimpse_gallery

    model, _, _, data = models.load_or_stop()
    idx = np.arange(int(start), int(start) + GALLERY)
    with st.spinner("Running the RAM on these digits ..."):
        gallery = glimpse_gallery(model, data.test_x[idx], data.test_y[idx], int(start))
scales = [ram.glimpse_scale**k for k in range(ram.num_patches)]
names = models.class_names()
for b, col in enumerate(st.columns(GALLERY)):
    i, label, said = int(start) + b, gallery["labels"][b], gallery["predictions"][b]
    verdict = "correct" if said == label else "wrong"
    title = f"#{i}: label {names[label]}, RAM says {names[said]} ({verdict})"
    centres = np.asarray(gallery["centres"][b])
    with col:  # SVG images (digit, glimpse squares, numbered path): no Plotly chunk needed on the first view
        furniture.image(plots.glimpse_path_svg(np.asarray(gallery["images"][b], dtype=np.uint8), centres,
                                               ram.patch_size, scales, title), title,
                        alt=f"Test image #{i}, label {names[label]}, with the RAM's {len(centres)} glimpses numbered "
                            f"in order and the squares its patches cover; the RAM says {names[said]} ({verdict}).")
