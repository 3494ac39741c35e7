"""The lookup pages under streamlit's AppTest (table size, metric search, cluster tree, mixed MBI, and the lookup
column of glimpse paths): each renders on the shipped default model, and its main control changes the Plotly specs
or the numbers; links are validated; the metric search's weights reach the other pages.

Image counts come from the URL (100 images) so the lookups stay quick on 2 cores; traces, trees and curves are
cached per process, so later tests reuse them. Like ``test_app_pages.py``, these skip while the default model is
missing (fail in CI); ``MBI_TEST_DEFAULT_MODEL=FOLDER`` runs them on another checkpoint.
"""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

import mbi.model.checkpoint as checkpoint
from dashboard import furniture
from mbi.inference.tablesize import read_recipe_tradeoff
from mbi.inference.vote import recipe_votes
from tests.apptools import APP, NO_LIMIT, metric, ok, open_page, spec, specs, title

pytestmark = pytest.mark.usefixtures("default_table", "artifacts")

PAGES = {"table": "dashboard/pages/table_size.py", "weights": "dashboard/pages/metric_search.py", "tree": "dashboard/pages/cluster_tree.py",
         "mixed": "dashboard/pages/mixed_mbi.py", "glimpses": "dashboard/pages/glimpse_paths.py"}
SMALL = {"images": "100"}


def _open(page: str, query: dict[str, str] | None = None) -> AppTest:
    return open_page(PAGES[page], query)


_ok, _specs, _title, _spec, _metric = ok, specs, title, spec, metric


def _sidebar_weights(at: AppTest) -> str:
    return next(m.value for m in at.sidebar.markdown if "Distance weights" in m.value)


@pytest.mark.parametrize("page", list(PAGES)[:4])
def test_lookup_page_renders_on_default_model(page):
    at = _open(page, SMALL)
    _ok(at)
    assert at.title and at.title[0].value
    assert at.sidebar.selectbox[0].value == "default"
    assert "a : b : c = 1 :" in _sidebar_weights(at)
    if page != "weights":  # the metric search draws once a study has trials
        assert _specs(at)


def test_mixed_threshold_moves_the_numbers_and_the_marked_point():
    at = _open("mixed", SMALL)
    _ok(at)
    share = _metric(at, "Answered by lookup")
    marker = _spec(at, "Mixed MBI (Fig. 5)")["data"][-1]
    at.slider(key="mixed.thr").set_value(2.0).run()
    _ok(at)
    assert _metric(at, "Answered by lookup") != share
    moved = _spec(at, "Mixed MBI (Fig. 5)")["data"][-1]
    assert moved["x"] != marker["x"] and moved["y"] != marker["y"]
    assert at.query_params["thr"] == "2"
    assert _spec(at, "Mixed MBI per class at threshold 2.0")
    gallery = _spec(at, "Fallbacks at threshold 2.0")
    assert "step" in json.dumps(gallery["layout"]["annotations"])  # each example says which step failed
    at.segmented_control(key="mixed.cls").set_value(3).run()
    _ok(at)
    assert at.query_params["cls"] == "3"


def test_mixed_lookup_answers_by_the_learned_vote():
    """The shipped default records a learned vote: the page offers its answers; the gate curves and metrics then grade
    the voted answers, and the caption says the voted lookup-only accuracy beside the plain one (the page's metric)."""
    at = _open("mixed", SMALL)
    _ok(at)
    assert at.radio(key="mixed_answers").value == "plain"
    assert not any("Lookup-only with the vote" in c.value for c in at.caption)
    plain = _metric(at, "Lookup-only accuracy")
    at.radio(key="mixed_answers").set_value("vote").run()
    _ok(at)
    said = [c.value for c in at.caption if "Lookup-only with the vote" in c.value]
    assert said and re.search(rf"\d+\.\d\d% \(plain {re.escape(plain)}\)", said[0]), said
    assert _spec(at, "per gate") and _metric(at, "Mixed accuracy, learned gate")


def test_mixed_fallback_fused_with_the_vote(capsys):
    """The shipped default records a fused fallback: the page offers it; the fallback's own accuracy the caption says
    is the gate command's on the same images, and the learned gate's mixed accuracy follows it."""
    from mbi.cli import main

    at = _open("mixed", SMALL)
    _ok(at)
    assert at.radio(key="mixed_fallback").value == "ram"
    ram_mixed = _metric(at, "Mixed accuracy, learned gate")
    at.radio(key="mixed_fallback").set_value("fused").run()
    _ok(at)
    said = [c.value for c in at.caption if "The fused fallback alone" in c.value]
    assert len(said) == 1
    assert main(["gate", "default", "--fallback", "fused", "--split", "test", "--images", "100", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert f"answers {100 * report['fallback_accuracy']:.2f}% of these images" in said[0]
    assert f"(the RAM {100 * report['ram_accuracy']:.2f}%)" in said[0]
    at90 = next(r for r in report["gates"]["learned"]["at_share"] if r["share"] == 0.9)
    assert _metric(at, "Mixed accuracy, learned gate") == f"{100 * at90['accuracy_here']:.2f}%"
    assert ram_mixed  # drawn with the RAM's fallback first


def test_mixed_hand_edited_url_is_fixed_with_a_message():
    at = _open("mixed", {"images": "7", "thr": "abc", "wb": "-5"})
    _ok(at)
    assert at.selectbox(key="mixed.images").value == 10000  # the whole test split
    assert any("test images" in w.value and "threshold" in w.value for w in at.warning)
    assert any("weights were fixed" in w.value for w in at.sidebar.warning)


def test_table_size_budget_moves_the_chosen_point():
    at = _open("table", SMALL)
    _ok(at)
    assert _metric(at, "Rows") == f"{int(at.select_slider(key='table.rows').value):,}"
    full = _spec(at, "Lookup accuracy vs table size")
    assert {t["name"] for t in full["data"] if t.get("name")} >= {"unweighted", "weighted"}  # the model's own weights
    storage = _metric(at, "Binary storage")
    at.select_slider(key="table.rows").set_value(10000).run()
    _ok(at)
    assert _metric(at, "Rows") == "10,000" and _metric(at, "Binary storage") != storage
    assert _spec(at, "Lookup accuracy vs table size")["layout"]["shapes"][0]["x0"] == 10000
    assert at.query_params["rows"] == "10000"
    recorded = read_recipe_tradeoff(checkpoint.resolve_checkpoint("default"))
    if recorded is None:  # a stand-in model without recipes.json: the page says how to record one
        assert any("python -m mbi recipes" in i.value for i in at.info)
    else:  # the shipped model: the recorded trade-off of the table recipes, one line per perturbation group
        tradeoff = _spec(at, "Shifted replays: table size against lookups")
        groups = list(recorded["points"][0].accuracy)
        assert [t["name"] for t in tradeoff["data"]] == [f"lookup, {g}" for g in groups]
        assert list(tradeoff["data"][0]["text"]) == [p.shifts for p in sorted(recorded["points"],
                                                                              key=lambda p: p.storage_bytes)]
        votes = recipe_votes(checkpoint.resolve_checkpoint("default"), [p.shifts for p in recorded["points"]])
        text = "\n".join(m.value for m in at.markdown)
        for row in votes:  # each recorded vote's row, as the vote files say (the shipped: the paper's and 1px tables)
            cells = [furniture.plain(v, 200) for k, v in row.items() if k != "vote"]  # literal cells; the file
            assert "| " + " | ".join(cells) + " |" in text  # names are in the caption
            assert any(row["vote"] in c.value for c in at.caption)


def test_cluster_tree_knobs_node_and_checks():
    at = _open("tree", SMALL)
    _ok(at)
    tree4 = _spec(at, "k-means tree of glimpse 2")
    assert _spec(at, "Node 0: its centroid")
    comparisons = _metric(at, "Comparisons per query")
    at.slider(key="tree.branching").set_value(8).run()
    _ok(at)
    tree8 = _spec(at, "k-means tree of glimpse 2")
    assert _title(tree8) != _title(tree4) and tree8["data"][0]["ids"] != tree4["data"][0]["ids"]
    assert at.query_params["branching"] == "8"
    root_keys = _metric(at, "Keys")
    at.number_input(key="tree.node").set_value(2).run()
    _ok(at)
    assert _spec(at, "Node 2: its centroid") and at.query_params["node"] == "2"
    assert int(_metric(at, "Keys").replace(",", "")) < int(root_keys.replace(",", ""))
    at.select_slider(key="tree.checks").set_value(8).run()
    _ok(at)
    assert _metric(at, "Comparisons per query") != comparisons
    assert "Fig. 4(c)" in _title(_spec(at, "Key distance error"))
    at.segmented_control(key="tree.images").set_value(300).run()  # more queries than the kept answers cover
    _ok(at)
    assert _spec(at, "Comparisons vs exactness (glimpse 2, 300 queries)") and at.query_params["images"] == "300"


def test_metric_search_runs_trials_and_its_weights_reach_the_other_pages():
    at = _open("weights", {"images": "100", "trials": "2"})
    _ok(at)
    assert any("No trials yet" in i.value for i in at.info)
    at.button(key="run_bo").click().run()
    _ok(at)
    history = _spec(at, "Optimization History")
    assert len(history["data"][0]["x"]) == 2
    assert _spec(at, "Slice") and _metric(at, "Unweighted (trial 0)").endswith("%")
    before = _sidebar_weights(at)
    at.number_input(key="hand_wb").set_value(0.25)
    at.number_input(key="hand_wc").set_value(4.0)
    at.button(key="apply_hand").click().run()
    _ok(at)
    assert "1 : 0.25 : 4" in _sidebar_weights(at) != before
    assert at.query_params["wb"] == "0.25" and at.query_params["wc"] == "4"
    at.switch_page(PAGES["mixed"]).run()
    _ok(at)
    assert any("1 : 0.25 : 4" in c.value for c in at.caption)  # the mixed page looks up with these weights
    at.sidebar.button(key="reset_weights").click().run()
    _ok(at)
    assert "wb" not in at.query_params


def test_glimpse_lookup_column_follows_the_step():
    at = _open("glimpses")
    _ok(at)
    first = _spec(at, "Glimpse 1: query vs matched key")
    at.slider(key="glimpses.step").set_value(4).run()
    _ok(at)
    fourth = _spec(at, "Glimpse 4: query vs matched key")
    assert fourth["data"][0]["z"] != first["data"][0]["z"]
    assert _spec(at, "Lookup on test image #0") and _spec(at, "Matched distance per glimpse")
    assert str(_metric(at, "The lookups say")).isdigit()


@pytest.mark.parametrize("broken", ["model", "table"])
def test_lookup_pages_explain_a_broken_model_or_table(tmp_path, monkeypatch, broken):
    folder = tmp_path / "model"
    folder.mkdir()
    if broken == "model":
        (folder / "config.json").write_text("{}")
        (folder / "model.pt").write_bytes(b"not torch weights")
    else:  # the real model with a damaged table beside it
        shipped = checkpoint.resolve_checkpoint("default")
        for name in ("config.json", "metrics.json", "model.pt", "lookup.json"):
            if (shipped / name).is_file():
                (folder / name).write_bytes((shipped / name).read_bytes())
        (folder / "table.npz").write_bytes(b"not a table")
    monkeypatch.setattr(checkpoint, "DEFAULT_MODEL_DIR", folder)
    at = AppTest.from_file(APP, default_timeout=NO_LIMIT).run()
    for page in ("table", "weights", "tree", "mixed", "glimpses"):
        at.switch_page(PAGES[page])
        at.query_params.update({"wb": "2"})
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert any("could not be loaded" in e.value for e in at.error), (page, [e.value for e in at.error])


def test_page_says_when_a_result_is_too_large_to_keep(monkeypatch):
    """With MBI_CACHE_MB=1 the search index (~10 MB) cannot be kept in memory, and the page says so."""
    monkeypatch.setenv("MBI_CACHE_MB", "1")
    at = _open("mixed", SMALL)
    _ok(at)
    assert any("not kept" in c.value and "MBI_CACHE_MB=1" in c.value for c in at.caption), \
        [c.value for c in at.caption]


def test_page_says_when_it_dropped_an_older_result(monkeypatch):
    """With MBI_CACHE_MB=40 one exact search index of the shipped table (26.4 MB, BENCHMARKS.md) fits, two do not:
    Mixed MBI's learned gate keeps the index of the model's own weights (its traces come from a child process),
    Glimpse paths with other weights needs another one, which drops the first, and the page says so."""
    monkeypatch.setenv("MBI_CACHE_MB", "40")
    at = _open("mixed", SMALL)
    _ok(at)
    assert not any("To make room" in c.value for c in at.caption)
    at.switch_page(PAGES["glimpses"])
    at.query_params.update({"wb": "2"})
    at.run()
    _ok(at)
    assert any(re.search(r"To make room, the server dropped \d+ older results? \((2[6-9]|[3-9]\d)\.\d MB\)", c.value)
               and "MBI_CACHE_MB=40" in c.value for c in at.caption), [c.value for c in at.caption]
