"""Model size: where a member of the model-size family sits on the cost and accuracy curves.

Thin page: reads a family's ``results.json`` (written by ``python -m mbi scaling``), draws
``mbi.plots.model_size_figure`` with the picked member ringed, shows its row, and can make the member
the dashboard's model (its glimpse paths, lookups and energy on the other pages).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mbi import plots
from mbi.runs.scaling import TABLE_COLUMNS, find_results, read_results, table_cells
from mbi.store import artifacts_root
from dashboard import furniture, models

furniture.intro(
    "Model size",
    "The paper's title claims memorization makes inference model-size agnostic: the lookup key stays the same "
    "while the network grows. This family of RAMs shares the key (glimpses, patches, bits, grid, the 64-bit hidden "
    "state) and grows the network; pick a member to see its cost and accuracy against the others.",
    "the title claim (Fig. 1: DNN compute grows with the model, MBI's stays constant)",
)

found = find_results(artifacts_root())
if not found:
    st.info("No model-size family has been run here yet. Run `python -m mbi scaling` (the shipped family; hours on "
            "a CPU) or `python -m mbi scaling --spec mbi/specs/scaling-demo.json` (a pipeline check), then reload.",
            icon=":material/info:")
    st.stop()
names = {p.parent.name: p for p in found}
family = st.selectbox("Family", list(names), key="size_family") if len(names) > 1 else next(iter(names))
try:
    data = read_results(names[family])
except furniture.USER_ERRORS as exc:
    st.error(f"The family's results could not be read: {furniture.friendly(exc)}")
    st.stop()
rows = data["rows"]
if not rows:
    st.info(f"No member of {family} has finished yet; `python -m mbi scaling` continues it.")
    st.stop()
what = data.get("meta", {}).get("what")
if what:
    st.caption(what)
member = st.selectbox("Member", [r["member"] for r in rows], index=len(rows) - 1, key="size_member",
                      help="Members sorted by the RAM's multiply-accumulates per image")
row = next(r for r in rows if r["member"] == member)
cells = next(c for c in table_cells(rows) if c["member"] == member)
m = st.columns(5)
m[0].metric("MACs per image", cells["macs_per_image"], help=f"{cells['parameters']} parameters")
m[1].metric("RAM test accuracy", cells["ram"])
m[2].metric("Lookup-only", cells["lookup"], help=f"mixed MBI: {cells['mixed']} of images by lookup")
m[3].metric("Images/s, RAM vs lookup", f"{1 / row['ram_batched_s']:,.0f} vs {1 / row['lookup_batched_s']:,.0f}",
            help=f"batched on this machine; lookup with the {row['fastest_search']} search")
m[4].metric("Energy, CIM vs MBI", cells["energy"].replace(", ", " vs "), help=row["cim_macro"])
furniture.plot(plots.model_size_figure(rows, data["summary"], selected=member), key="model_size",
               download_name="mbi-model-size")
frame = pd.DataFrame([{h: c[k] for k, h in TABLE_COLUMNS} for c in table_cells(rows)])
furniture.table(frame, key="size_table")
choice = models.scaling_choice(family, member)
if choice in models.model_choices():
    if models.current_model_name() == choice:
        st.success(f"{member} is the dashboard's model: its glimpse paths, lookups and energy show on the other pages.")
        st.page_link("dashboard/pages/glimpse_paths.py", label="Glimpse paths", icon=":material/visibility:")
    else:
        st.button("Use this member as the dashboard's model", key="size_use", on_click=models.set_model,
                  args=(choice,), help="Its glimpse paths, lookups and energy then show on the other pages")
