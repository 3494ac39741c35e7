"""MBI Explorer dashboard: ``streamlit run app.py`` (or ``make app``).

Like Streamlit's own ``hello`` app, the entry file only declares the pages (``st.navigation``)
and the shared sidebar inside :func:`run`, which tests call; each page is a thin script in
``dashboard/pages/`` (widgets -> ``mbi`` calls -> ``mbi.plots`` figures) and
``dashboard/`` holds the shared UI glue (models, URL settings, weights, lookups, furniture).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import models, sidebar
from mbi.runs import memo

PAGES_DIR = Path(__file__).resolve().parent / "dashboard" / "pages"


PAGE_GROUPS: dict[str, list[tuple[str, str, str, str, dict]]] = {
    # The default page is served at "/" whatever its url_path; the hidden alias keeps links to the
    # Overview's own path "/start" working (without it Streamlit shows "Page not found" over the page).
    "Start": [("overview.py", "Overview", "home", "overview", {"default": True}),
              ("overview.py", "Overview", "home", "start", {"visibility": "hidden"})],
    "The network": [
        ("ram_hyperparameters.py", "RAM hyperparameters", "tune", "ram", {}),
        ("glimpse_paths.py", "Glimpse paths", "visibility", "glimpses", {}),
    ],
    "Memorization": [
        ("table_size.py", "Table size", "table_rows", "table", {}),
        ("metric_search.py", "Metric search", "tune", "weights", {}),
        ("cluster_tree.py", "Cluster tree", "account_tree", "tree", {}),
        ("mixed_mbi.py", "Mixed MBI", "call_split", "mixed", {}),
        ("perturbed_digit.py", "Perturbed digit", "open_with", "perturbed", {}),
    ],
    "Hardware": [("sram_energy.py", "SRAM and energy", "memory", "hardware", {}),
                 ("model_size.py", "Model size", "stacked_line_chart", "size", {})],
}
"""The dashboard's pages in the order of the guided path, grouped as in the paper: (file in ``dashboard/pages``,
title, Material icon, URL path, ``st.Page`` options)."""


def pages() -> dict[str, list[st.Page]]:
    """:data:`PAGE_GROUPS` as Streamlit pages."""
    return {group: [st.Page(PAGES_DIR / file, title=title, icon=f":material/{icon}:", url_path=url_path, **options)
                    for file, title, icon, url_path, options in entries]
            for group, entries in PAGE_GROUPS.items()}


@st.cache_resource
def _bounded_allocator() -> bool:
    """Once per server process: freed large arrays go back to the operating system
    (:func:`mbi.runs.memo.bound_allocator`)."""
    return memo.bound_allocator()


def run() -> None:
    """Configure the app, draw the shared sidebar and render the selected page; afterwards the memory the
    run freed goes back to the operating system (a hosted server's footprint is what it holds, not its peak) and,
    once per server process and model, the chosen model's images, table and kernels are prepared in the
    background (:func:`dashboard.models.prepare_current`)."""
    st.set_page_config(page_title="MBI Explorer", page_icon=":material/memory:", layout="wide")
    _bounded_allocator()
    page = st.navigation(pages())
    sidebar.sidebar()
    try:
        page.run()
    finally:
        memo.release_freed_memory()
        models.prepare_current()


if __name__ == "__main__":
    run()
