"""SRAM and energy (Fig. 6, Table I): variation, sum-line levels, ADC errors, energy per match and per inference."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from mbi import plots
from mbi.hardware.energy import (COMPONENTS, PAPER_GLIMPSES, PAPER_KEYS_PER_LEVEL, PAPER_LEVELS, PAPER_MATCH_ENERGY_J,
                        PAPER_MBI_ACCURACY_PCT, PAPER_MBI_STORAGE_MB, TABLE_COLUMNS, EnergyConfig, format_energy,
                        inference_energy_j, match_energy, table_cells, table_one)
from mbi.hardware.sram import MONTE_CARLO_BUDGETS, PAPER_MIN_GAP_V, SRAMConfig, level_statistics, monte_carlo_trials
from mbi.urlstate import Param
from dashboard import furniture, urlsync

PAGE = "hardware"
SIZES = (8, 16, 32, 64)
ENCODINGS = {"binary": "binary (bit-significance precharge, the paper's)", "thermometer": "thermometer (exact |K-Q|)"}

furniture.intro(
    "SRAM and energy",
    "In hardware, the table's keys sit in SRAM arrays that compute the distance to a query in place: "
    "mismatching bits discharge bit lines, charge sharing sums them on two sum lines, and an ADC reads the sum. "
    "Transistor variation blurs those voltages; explore when the ADC still reads the right distance, "
    "what one match costs, and how MBI compares with compute-in-memory chips.",
    "Fig. 6(b), Fig. 6(c) and Table I",
)

PARAMS = [
    Param("sigma", 60.0, "float", lo=0.0, hi=120.0, step=5.0, label="sigma_VTH (mV)"),
    Param("adc", 5, "int", lo=1, hi=8, label="ADC bits"),
    Param("rows", 32, "choice", choices=SIZES, label="array rows"),
    Param("cols", 32, "choice", choices=SIZES, label="array columns"),
    Param("element_bits", 1, "choice", choices=(1, 2), label="bits per stored element"),
    Param("encoding", "binary", "choice", choices=tuple(ENCODINGS), label="encoding"),
    Param("discharge", 2.0, "float", lo=0.5, hi=4.0, step=0.25, label="discharge window (ns)"),
    Param("precision", "fast", "choice", choices=tuple(MONTE_CARLO_BUDGETS), label="Monte Carlo precision"),
    Param("seed", 0, "int", lo=0, hi=9999, label="seed"),
    Param("glimpses", float(PAPER_GLIMPSES), "float", lo=1.0, hi=32.0, step=1.0, label="glimpses"),
    Param("levels", PAPER_LEVELS, "float", lo=1.0, hi=16.0, step=0.5, label="tree levels"),
    Param("keys", float(PAPER_KEYS_PER_LEVEL), "float", lo=1.0, hi=4096.0, step=1.0, label="keys per level"),
    Param("splits", 5.0, "float", lo=1.0, hi=32.0, step=1.0, label="arrays per key"),
    Param("match_from", "paper", "choice", choices=("paper", "model"), label="energy per match"),
]
messages = urlsync.url_settings(PAGE, PARAMS)
K = lambda name: urlsync.wkey(PAGE, name)  # noqa: E731 - short alias for widget keys


@st.cache_data(max_entries=64, show_spinner="Monte Carlo of the array ...")
def _levels(sigma_mv: float, adc_bits: int, rows: int, cols: int, element_bits: int, encoding: str,
            discharge_ns: float, trials: int, seed: int) -> dict:
    config = replace(SRAMConfig(), sigma_vth_v=sigma_mv * 1e-3, adc_bits=adc_bits, rows=rows, cols=cols,
                     discharge_time_s=discharge_ns * 1e-9)
    stats = level_statistics(config, element_bits=element_bits, encoding=encoding, trials=trials, seed=seed)
    return {"summary": stats.summary(), "per_level": stats.per_level(), "levels": stats.levels,
            "voltages": stats.voltages.astype("float32"), "min_gap_v": stats.min_gap_v,
            "min_gap_level": stats.min_gap_level, "adc_errors": stats.adc_errors,
            "threshold_v": stats.decision_threshold_v(stats.min_gap_level)}


st.subheader("The search array (Fig. 6(b))")
c = st.columns(4)
c[0].slider("sigma_VTH (mV)", 0.0, 120.0, step=5.0, key=K("sigma"),
            help="Standard deviation of every read-port transistor's threshold voltage")
c[1].slider("ADC resolution (bits)", 1, 8, key=K("adc"))
c[2].select_slider("Array rows", SIZES, key=K("rows"), help="Keys per array (bit-line length)")
c[3].select_slider("Array columns", SIZES, key=K("cols"), help="Key bits per array")
c = st.columns(4)
c[0].radio("Bits per stored element", (1, 2), key=K("element_bits"), horizontal=True,
           help="1 = hidden-state bits (all columns at V_P,max); 2 = patch values")
c[1].selectbox("Multi-bit encoding", list(ENCODINGS), format_func=ENCODINGS.get, key=K("encoding"),
               disabled=st.session_state[K("element_bits")] == 1)
c[2].slider("Discharge window (ns)", 0.5, 4.0, step=0.25, key=K("discharge"),
            help="Evaluate phase; too short leaves slow cells half-discharged")
with c[3]:
    st.radio("Monte Carlo", list(MONTE_CARLO_BUDGETS), key=K("precision"), horizontal=True,
             help="'fine' draws about four times more array instances (slower)")
    st.number_input("Seed", 0, 9999, key=K("seed"))

v = {p.name: st.session_state[K(p.name)] for p in PARAMS}
try:
    trials = monte_carlo_trials(replace(SRAMConfig(), rows=int(v["rows"]), cols=int(v["cols"])),
                                int(v["element_bits"]), v["encoding"], MONTE_CARLO_BUDGETS[v["precision"]])
    res = _levels(float(v["sigma"]), int(v["adc"]), int(v["rows"]), int(v["cols"]), int(v["element_bits"]),
                  v["encoding"], float(v["discharge"]), trials, int(v["seed"]))
except ValueError as exc:
    st.error(f"These settings cannot be simulated: {furniture.friendly(exc)}")
    urlsync.sync_url(PAGE, PARAMS, messages)
    st.stop()
s = res["summary"]
c = st.columns(4)
c[0].metric("Smallest level gap", f"{s['min_gap_mv']:.2f} mV", delta=f"paper >= {1e3 * PAPER_MIN_GAP_V:.0f} mV",
            delta_color="off", delta_arrow="off", help="Worst sample of level d minus best sample of level d+1 (negative = overlap)")
c[1].metric("Nominal step per level", f"{s['nominal_spacing_mv']:.2f} mV")
c[2].metric("ADC wrong-code rate", f"{100 * s['adc_error_rate']:.4f}%",
            help="Share of reads (all levels equally likely) whose code differs from the variation-free one")
c[3].metric("ADC codes / levels", f"{s['adc_distinct_codes']} / {s['levels']}",
            help="Fewer codes than levels means the ADC merges some distances")
st.caption(f"{trials} array instances x {v['rows']} rows = {s['samples_per_level']:,} samples per level "
           f"(seed {v['seed']}); the smallest gap is an extreme-value statistic and moves with the seed.")
furniture.plot(plots.sum_line_distributions(res["levels"], res["voltages"], res["min_gap_v"], res["min_gap_level"]),
            key="fig6b", download_name="mbi-fig6b")
g = list(res["levels"]).index(res["min_gap_level"])
c = st.columns(2)
with c[0]:
    furniture.plot(plots.sum_line_gap_zoom(res["min_gap_level"], res["voltages"][g], res["voltages"][g + 1],
                                           res["threshold_v"]), key="gap_zoom")
with c[1]:
    furniture.plot(plots.adc_errors_by_level(res["levels"], res["adc_errors"], int(v["adc"])), key="adc_errors")
with st.expander("Numbers per distance level"):
    per_level = pd.DataFrame(res["per_level"]).rename(columns={
        "mean_mv": "mean (mV)", "std_mv": "std (mV)", "min_mv": "min (mV)", "max_mv": "max (mV)",
        "gap_to_next_mv": "gap to next (mV)", "adc_error_rate": "ADC wrong-code rate"})
    furniture.table(per_level, key="levels_table", max_rows=129)
    furniture.csv_download(per_level, "mbi-sram-levels", key="dl_levels")

# --------------------------------------------------------------------------- energy

st.subheader("Energy per match and per inference (Fig. 6(c), Table I)")
energy_cfg = EnergyConfig(sram=replace(SRAMConfig(), adc_bits=int(v["adc"]), rows=int(v["rows"]), cols=int(v["cols"])))
parts = match_energy(energy_cfg)
c = st.columns([2, 3])
with c[0]:
    furniture.plot(plots.energy_breakdown({k: parts[k] for k in COMPONENTS},
                                          title=f"Energy per {v['rows']}x{v['cols']} match"),
                   key="fig6c")
with c[1]:
    st.markdown("Energy per inference = glimpses x tree levels x keys per level x arrays per key x energy per match "
                "(Table I footnote).")
    f = st.columns(4)
    f[0].number_input("Glimpses", 1.0, 32.0, step=1.0, key=K("glimpses"))
    f[1].number_input("Tree levels", 1.0, 16.0, step=0.5, key=K("levels"))
    f[2].number_input("Keys per level", 1.0, 4096.0, step=1.0, key=K("keys"))
    f[3].number_input("Arrays per key", 1.0, 32.0, step=1.0, key=K("splits"))
    st.radio("Energy per match", ("paper", "model"), key=K("match_from"), horizontal=True,
             format_func=lambda m: f"paper ({1e12 * PAPER_MATCH_ENERGY_J:g} pJ)" if m == "paper"
             else f"circuit model at these settings ({1e12 * parts['total']:.2f} pJ)")
    v = {p.name: st.session_state[K(p.name)] for p in PARAMS}
    per_match = PAPER_MATCH_ENERGY_J if v["match_from"] == "paper" else parts["total"]
    per_inference = inference_energy_j(v["glimpses"], v["levels"], v["keys"], v["splits"], per_match)
    st.metric("Energy per inference", format_energy(per_inference),
              help=f"{v['glimpses']:g} x {v['levels']:g} x {v['keys']:g} x {v['splits']:g} x "
                   f"{1e12 * per_match:.2f} pJ")
rows = table_one(PAPER_MBI_ACCURACY_PCT, PAPER_MBI_STORAGE_MB, per_inference)
header = [h for _, h in TABLE_COLUMNS]
furniture.plot(plots.table_figure(header, table_cells(rows), "Table I: MBI vs compute-in-memory on MNIST"),
            key="table1", download_name="mbi-table1")
table = pd.DataFrame([{h: r[k] for k, h in TABLE_COLUMNS} for r in rows])
furniture.csv_download(table, "mbi-table1", key="dl_table1_csv", label="Download Table I (CSV, SI units)")
st.caption("Other works' energies are projected to 16 nm as E_T x (16 nm / T)^2, as in the paper; MBI's accuracy "
           "and storage are the paper's until the lookup table is distilled here.")
urlsync.sync_url(PAGE, PARAMS, messages)
