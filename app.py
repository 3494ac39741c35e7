"""MBI Explorer dashboard: ``streamlit run app.py`` (or ``make app``).

The entry file only declares the pages (``st.navigation``) and the shared sidebar
inside :func:`run`, which tests can call; each page is a thin script in ``pages/``
(widgets -> ``mbi`` calls -> ``mbi.plots`` figures). ``pages/common.py`` holds the
shared UI glue (cached loads, model choice, settings in the URL).
"""

from __future__ import annotations

import streamlit as st

from pages import common

# Pages in the order of the guided path.
# URL paths must differ from the file names: Streamlit still scans pages/ for old-style pages on a
# process's first run (and AppTest on every run), and a page whose URL path equals its file name would
# then run without this entry file, and so without the shared sidebar.
PAGES = {
    "Start": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", url_path="start", default=True),
    ],
    "The network": [
        st.Page("pages/ram_hyperparameters.py", title="RAM hyperparameters", icon=":material/tune:",
                url_path="ram"),
        st.Page("pages/glimpse_paths.py", title="Glimpse paths", icon=":material/visibility:", url_path="glimpses"),
    ],
    "Memorization": [
        st.Page("pages/table_size.py", title="Table size", icon=":material/table_rows:", url_path="table"),
        st.Page("pages/metric_search.py", title="Metric search", icon=":material/tune:", url_path="weights"),
        st.Page("pages/cluster_tree.py", title="Cluster tree", icon=":material/account_tree:", url_path="tree"),
        st.Page("pages/mixed_mbi.py", title="Mixed MBI", icon=":material/call_split:", url_path="mixed"),
    ],
    "Hardware": [
        st.Page("pages/sram_energy.py", title="SRAM and energy", icon=":material/memory:", url_path="hardware"),
    ],
}


def run() -> None:
    """Configure the app, draw the shared sidebar and render the selected page."""
    st.set_page_config(page_title="MBI Explorer", page_icon=":material/memory:", layout="wide")
    page = st.navigation(PAGES)
    common.sidebar()
    page.run()


run()
