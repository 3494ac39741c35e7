"""MBI Explorer dashboard: ``streamlit run app.py`` (or ``make app``).

The entry file only declares the pages (``st.navigation``) inside :func:`run`,
which tests can call; each page is a thin script in ``pages/``.
"""

from __future__ import annotations

import streamlit as st

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
]


def run() -> None:
    """Configure the app and render the selected page."""
    st.set_page_config(page_title="MBI Explorer", page_icon=":material/memory:", layout="wide")
    st.navigation(PAGES).run()


run()
