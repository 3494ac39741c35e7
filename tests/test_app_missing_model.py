"""Without a usable default model the dashboard explains what is wrong on every page, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import mbi.model.checkpoint as checkpoint

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["dashboard/pages/overview.py", "dashboard/pages/ram_hyperparameters.py", "dashboard/pages/glimpse_paths.py", "dashboard/pages/sram_energy.py"]


@pytest.mark.parametrize("broken", ["missing", "damaged"])
def test_pages_show_a_message_when_the_model_cannot_load(tmp_path, monkeypatch, broken):
    folder = tmp_path / "model"
    if broken == "damaged":
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "model.pt").write_bytes(b"not torch weights")
    monkeypatch.setattr(checkpoint, "DEFAULT_MODEL_DIR", folder)
    monkeypatch.setenv("MBI_HOME", str(tmp_path / "artifacts"))
    at = AppTest.from_file(APP, default_timeout=24 * 3600.0).run()
    for page in PAGES:
        if page != PAGES[0]:
            at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        if page in (PAGES[0], PAGES[2]):
            assert any("could not be loaded" in e.value for e in at.error), page
    assert at.sidebar.error  # the sidebar says it too
