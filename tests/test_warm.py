"""``python -m dashboard.warm``: every page of the app, in its default state, computes its results into
``MBI_HOME`` before the first visitor."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.warm import page_files, warm

ROOT = Path(__file__).resolve().parent.parent


def test_page_files_are_every_page_of_the_app_once_in_sidebar_order():
    files = page_files()
    assert files[0] == "dashboard/pages/overview.py" and len(files) == len(set(files))
    assert set(files) == {str(p.relative_to(ROOT)) for p in (ROOT / "dashboard" / "pages").glob("*.py")}


def test_warming_a_page_leaves_its_results_on_disk(artifacts):
    st.cache_resource.clear()  # no results of earlier tests in this process's memo: the page must compute them
    [(page, seconds, problems)] = warm(["dashboard/pages/glimpse_paths.py"])
    assert page == "dashboard/pages/glimpse_paths.py" and seconds >= 0 and problems == []
    assert list((artifacts / "traces").glob("*-ramtrace-test-10000-*.npz"))  # the RAM's glimpses of the test digits


def test_recording_views_takes_a_shipped_model_only():
    import pytest

    from dashboard.warm import record_views

    with pytest.raises(ValueError, match="shipped model"):
        record_views("runs/app/mine")
