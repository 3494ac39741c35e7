"""The Perturbed digit page and the Mixed MBI page's gate section under AppTest, on the shipped default model."""

from __future__ import annotations

import pytest

from tests.apptools import metric, ok, open_page, specs, title

pytestmark = pytest.mark.usefixtures("default_table", "artifacts")

PAGE = "dashboard/pages/perturbed_digit.py"


def test_shifting_a_digit_changes_the_paths_figure():
    at = open_page(PAGE, {"image": "0"})
    ok(at)
    clean = [s for s in specs(at) if title(s).startswith("Test image #0")][0]
    assert "unperturbed" in title(clean) and metric(at, "Label") == "7"
    at = open_page(PAGE, {"image": "0", "px": "3", "dir": "up", "noise": "0.2", "seed": "2"})
    ok(at)
    moved = [s for s in specs(at) if title(s).startswith("Test image #0")][0]
    assert "shifted 3 px up" in title(moved) and "noise 0.2 (seed 2)" in title(moved)
    assert moved["data"][0]["z"] != clean["data"][0]["z"]  # the digit drawn is the perturbed one
    assert {d.get("name") for d in moved["data"]} >= {"RAM path", "lookup path"}


def test_the_mixed_page_shows_both_gates():
    at = open_page("dashboard/pages/mixed_mbi.py", {"images": "100", "gate": "distance", "share": "80"})
    ok(at)
    fig = [s for s in specs(at) if "per gate" in title(s)][0]
    assert {d.get("name") for d in fig["data"]} >= {"distance gate", "learned gate"}
    assert metric(at, "Mixed accuracy, distance gate").endswith("%")
