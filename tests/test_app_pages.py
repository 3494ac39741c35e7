"""Dashboard pages under streamlit's AppTest: each renders on the default model, and its main control
changes what it shows (checked on the Plotly specs and the numbers), URLs are validated, training works.

The pages run against the shipped model in ``mbi/default_model``. While that folder is missing (it is
being retrained), these tests skip with that reason, except in CI (``CI=true``), where they fail;
``MBI_TEST_DEFAULT_MODEL=FOLDER`` runs them against any checkpoint folder instead.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import mbi.model.checkpoint as checkpoint
from tests.apptools import caption_text, images, metric, svg_pictures, ok, open_page, spec, specs, title

pytestmark = pytest.mark.usefixtures("default_model", "artifacts")

PAGES = ["dashboard/pages/overview.py", "dashboard/pages/ram_hyperparameters.py", "dashboard/pages/glimpse_paths.py", "dashboard/pages/sram_energy.py"]


def _open(page: str, query: dict[str, str] | None = None) -> AppTest:
    return open_page(None if page == PAGES[0] else page, query)


_ok, _specs, _title, _spec = ok, specs, title, spec


def _array(value) -> np.ndarray:
    """A Plotly data array from its JSON form (plain list or base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value)


_metric = metric


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_default_model(page):
    at = _open(page)
    _ok(at)
    assert at.title and at.title[0].value
    assert at.sidebar.selectbox[0].value == "default"
    if page != "dashboard/pages/ram_hyperparameters.py":  # the training view draws its figure once a run exists
        assert _specs(at) or images(at)


def test_overview_first_image_moves_the_gallery_and_the_url(mnist):
    at = _open(PAGES[0])
    _ok(at)
    shown = images(at)
    assert caption_text(shown[0]).startswith("The MBI pipeline")  # the pipeline diagram comes first
    assert [caption_text(s)[:3] for s in shown[1:]] == ["#0:", "#1:", "#2:", "#3:"]
    at.number_input(key="overview.first").set_value(8).run()
    _ok(at)
    gallery = images(at)[1:]
    assert [caption_text(s).split(",")[0] for s in gallery] == [f"#{i}: label {mnist.test_y[i]}" for i in range(8, 12)]
    for i, shown in zip(range(8, 12), gallery):  # each shows its test digit, dark ink on white
        assert np.array_equal(255 - svg_pictures(shown.svg)[0], mnist.test_x[i])
    assert at.query_params["first"] == "8"


@pytest.mark.parametrize("raw, expected", [("abc", 0), ("99999", 9996), ("-4", 0)])
def test_overview_hand_edited_url_opens_with_a_message(raw, expected):
    at = _open(PAGES[0], {"first": raw})
    _ok(at)
    assert at.number_input(key="overview.first").value == expected
    assert any("first test image" in w.value for w in at.warning)


def test_unknown_model_in_url_falls_back_to_default():
    at = _open(PAGES[0], {"model": "../../etc/passwd"})
    _ok(at)
    assert at.sidebar.selectbox[0].value == "default"
    assert any("not available" in w.value for w in at.sidebar.warning)


def test_glimpse_image_and_step_controls_change_the_figures(mnist):
    at = _open(PAGES[2])
    _ok(at)
    anim = _spec(at, "RAM on test image #0")
    assert len(anim["frames"]) == at.slider(key="glimpses.step").max
    z0 = anim["data"][0]["z"]
    at.number_input(key="glimpses.image").set_value(7).run()
    _ok(at)
    anim7 = _spec(at, "RAM on test image #7")
    assert anim7["data"][0]["z"] != z0
    assert at.query_params["image"] == "7"
    assert _spec(at, "Glimpse 1: what the RAM sees")
    at.slider(key="glimpses.step").set_value(3).run()
    _ok(at)
    patches = _spec(at, "Glimpse 3: what the RAM sees")
    assert len([t for t in patches["data"] if t["type"] == "heatmap"]) >= 1
    assert at.query_params["step"] == "3"
    lookup = [s for s in _specs(at) if "Glimpse 3: query vs matched key" in _title(s)]  # the lookup column
    assert lookup or any("not yet distilled" in i.value.lower() for i in at.info)  # (or its table is missing)


def test_glimpse_upload_shows_the_28x28_digit_and_rejects_junk(mnist):
    at = _open(PAGES[2], {"source": "upload"})
    _ok(at)
    big = np.asarray(Image.fromarray(255 - mnist.test_x[3]).resize((112, 112)))  # dark digit on white paper
    at.file_uploader(key="digit_upload").upload("digit.png", _png(big), "image/png").run()
    _ok(at)
    z = _array(_spec(at, "what the RAM gets (28x28)")["data"][0]["z"])
    assert z.shape == (28, 28) and z.max() > 200 and z[:, :3].max() == 0
    assert _spec(at, "RAM on your digit")
    at.file_uploader(key="digit_upload").upload("notes.png", b"not an image at all", "image/png").run()
    assert not at.exception
    assert any("cannot be used" in e.value for e in at.error)


def test_glimpse_url_with_impossible_step_is_fixed():
    at = _open(PAGES[2], {"step": "1000", "image": "x"})
    _ok(at)
    assert at.slider(key="glimpses.step").value == at.slider(key="glimpses.step").max
    assert at.number_input(key="glimpses.image").value == 0
    assert any("glimpse step" in w.value and "test image" in w.value for w in at.warning)


def test_sram_sigma_and_adc_change_levels_and_errors():
    at = _open(PAGES[3])
    _ok(at)
    gap60 = _metric(at, "Smallest level gap")
    hist60 = _spec(at, "Sum-line voltage")
    at.slider(key="hardware.sigma").set_value(100.0).run()
    _ok(at)
    assert _metric(at, "Smallest level gap") != gap60
    assert _spec(at, "Sum-line voltage")["data"] != hist60["data"]
    assert at.query_params["sigma"] == "100"
    codes = _metric(at, "ADC codes / levels")
    at.slider(key="hardware.adc").set_value(3).run()
    _ok(at)
    assert _metric(at, "ADC codes / levels") != codes and _metric(at, "ADC codes / levels").startswith("8 /")
    pie = _spec(at, "Energy per 32x32 match")
    at.select_slider(key="hardware.cols").set_value(16).run()
    _ok(at)
    assert _spec(at, "Energy per 32x16 match")["data"][0]["values"] != pie["data"][0]["values"]


def test_sram_energy_per_inference_follows_its_factors():
    at = _open(PAGES[3])
    assert _metric(at, "Energy per inference") == "13.16 nJ"  # the paper's 5 x 3.5 x 32 x 5 x 4.7 pJ
    at.number_input(key="hardware.glimpses").set_value(10.0).run()
    _ok(at)
    assert _metric(at, "Energy per inference") == "26.32 nJ"
    table = _spec(at, "Table I")
    assert "26.32 nJ" in json.dumps(table["data"][0]["cells"])


def test_sram_bad_url_opens_with_defaults_and_a_message():
    at = _open(PAGES[3], {"sigma": "lots", "adc": "99", "rows": "33"})
    _ok(at)
    assert at.slider(key="hardware.sigma").value == 60.0
    assert at.slider(key="hardware.adc").value == 8
    assert at.select_slider(key="hardware.rows").value == 32
    assert len(at.warning) == 1 and "sigma_VTH" in at.warning[0].value.replace("\\", "")  # shown as literal text


def _fake_sweep(root: Path, name: str, axes: dict[str, list]) -> None:
    """A finished sweep in the journal the page reads, without training (trials added directly)."""
    from mbi.runs.sweep import SweepSpec, default_storage, open_study

    spec = SweepSpec.load(Path(__file__).resolve().parent.parent / "mbi" / "specs" / f"{name}.json")
    study = open_study(spec, None, root)
    assert default_storage(spec, root).is_file()
    rng = np.random.default_rng(0)
    for axis, values in axes.items():
        for value in values:
            study.add_trial(optuna.trial.create_trial(
                params={}, distributions={}, value=float(rng.uniform(0.8, 0.95)),
                user_attrs={"overrides": json.dumps({axis: value})}))


def test_ram_page_sweep_choice_changes_the_figure(artifacts):
    _fake_sweep(artifacts, "fig3a", {"ram.num_glimpses": [1, 2, 4], "ram.patch_size": [2, 4]})
    _fake_sweep(artifacts, "fig3c", {"ram.hidden_size": [64, 128]})
    at = _open(PAGES[1], {"view": "sweeps"})
    _ok(at)
    fig = _spec(at, "Fig. 3(a)")
    assert sum(len(t["x"]) for t in fig["data"]) == 5
    at.radio(key="ram.sweep").set_value("fig3b").run()
    _ok(at)
    assert any("No results for Fig. 3(b)" in i.value for i in at.info)
    assert at.query_params["sweep"] == "fig3b"


def _wait_done(at: AppTest) -> AppTest:
    """Rerun the page until the background run has ended (no wall-clock limit)."""
    while True:
        time.sleep(0.3)
        at.run()
        if not _has(at, "stop_training"):
            return at


def _has(at: AppTest, key: str) -> bool:
    return any(b.key == key for b in at.button)


def test_train_in_the_app_shows_live_curves_and_keeps_the_run(artifacts):
    query = {"num_glimpses": "2", "hidden_size": "64", "state_size": "16", "glimpse_hidden": "32",
             "loc_hidden": "32", "glimpse_size": "64", "epochs": "2", "train_images": "500", "val_images": "500"}
    at = _open(PAGES[1], query)
    _ok(at)
    at.button(key="start_training").click().run()
    _ok(at)
    _wait_done(at)
    _ok(at)
    curves = _spec(at, "Training 'my run'")
    val = next(t for t in curves["data"] if t["name"].startswith("validation"))
    assert len(val["x"]) == 2 and all(0 <= y <= 100 for y in val["y"])
    assert any("Best validation accuracy" in s.value for s in at.success)
    runs = list((artifacts / "runs" / "app").glob("*/model.pt"))
    assert len(runs) == 1
    # the run is kept: a new visit lists it for comparison and offers it as a model
    at2 = _open(PAGES[1], {"view": "compare"})
    _ok(at2)
    assert any(o.startswith("my run (") for o in at2.sidebar.selectbox[0].options)
    compare = _spec(at2, "Validation accuracy of trained runs")
    assert any("my run" in t["name"] for t in compare["data"])
    # and every page can show it: the overview then describes the 2-glimpse model
    at3 = _open(PAGES[0])
    at3.sidebar.selectbox[0].set_value(runs[0].parent.name).run()
    _ok(at3)
    assert _metric(at3, "Glimpses x patches").startswith("2 x")
    assert at3.query_params["model"] == runs[0].parent.name


def test_hosted_limits_one_run_at_a_time_and_stop(artifacts, monkeypatch):
    monkeypatch.setenv("MBI_HOSTED", "1")
    at = _open(PAGES[1], {"epochs": "50"})
    _ok(at)
    assert at.slider(key="ram.epochs").value == 3 and at.slider(key="ram.epochs").max == 3
    assert any("epochs" in w.value for w in at.warning)
    at.button(key="start_training").click().run()
    _ok(at)
    # a second visitor sees the run and cannot start another
    other = _open(PAGES[1])
    assert any("Another visitor's run" in i.value for i in other.info)
    assert other.button(key="start_training").disabled
    # the first visitor stops it; finished work is kept and the server is free again
    while not _has(at, "stop_training"):
        at.run()
    at.button(key="stop_training").click().run()
    _wait_done(at)
    _ok(at)
    assert "Stopped" in at.get("progress")[0].proto.text or any("Stopped" in str(p.proto) for p in at.get("progress"))
    assert not _open(PAGES[1]).button(key="start_training").disabled


def test_a_stopped_run_whose_last_pt_is_damaged_offers_its_best_checkpoint_or_scratch(artifacts):
    query = {"num_glimpses": "2", "hidden_size": "64", "state_size": "16", "glimpse_hidden": "32",
             "loc_hidden": "32", "glimpse_size": "64", "epochs": "30", "train_images": "500", "val_images": "500"}
    at = _open(PAGES[1], query)
    at.button(key="start_training").click().run()
    (run,) = (artifacts / "runs" / "app").iterdir()
    while not (run / "metrics.json").is_file():  # stop once the first epoch is on disk
        time.sleep(0.2)
    at.run()
    at.button(key="stop_training").click().run()
    _wait_done(at)
    _ok(at)
    assert _has(at, "resume_last") and not _has(at, "resume_best")  # an intact run simply continues
    (run / "last.pt").write_bytes(b"\0" * 64)
    at.run()
    _ok(at)
    (note,) = [w.value for w in at.warning if "cannot continue" in w.value]
    assert "last" in note and "pt" in note and "Nothing was deleted" in note
    assert _has(at, "resume_best") and _has(at, "resume_scratch") and not _has(at, "resume_last")
    best_epoch = json.loads((run / "metrics.json").read_text())["best_epoch"]
    at.button(key="resume_best").click().run()
    _ok(at)
    while not list(run.glob("before-restart-*")):  # the training thread moves the old files aside when it starts
        time.sleep(0.2)
    (aside,) = run.glob("before-restart-*")
    assert (aside / "last.pt").read_bytes() == b"\0" * 64  # the damaged file is kept, not deleted
    while json.loads((run / "metrics.json").read_text())["epochs_done"] <= best_epoch:  # one more epoch trained
        time.sleep(0.2)
    at.run()
    at.button(key="stop_training").click().run()
    _wait_done(at)
    _ok(at)
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history][: best_epoch + 1] == list(range(1, best_epoch + 2))
    checkpoint.load_model(run)


def test_overview_shows_the_recorded_lookup_numbers():
    from mbi.model.checkpoint import lookup_settings

    recorded = lookup_settings("default")
    if "test_lookup_accuracy" not in recorded:
        pytest.skip("the shipped model has no recorded test lookup accuracy")
    at = _open(PAGES[0])
    _ok(at)
    # the headline is a text table: literal text, escaped (backslashes, word joiners after dots)
    markdown = " ".join(m.value for m in at.markdown).replace("\\", "").replace("\u2060", "")
    text = json.dumps(_specs(at)) + markdown
    assert f"{100 * recorded['test_lookup_accuracy']:.2f}%" in text
    assert f"{100 * recorded['test_mixed_accuracy']:.2f}%" in text
    if recorded.get("table", {}).get("shifts") == "1px":  # the table's recipe is said beside the paper's
        assert "also shifted by one pixel" in text
    if recorded.get("table", {}).get("readout") == "label":
        assert "class stored: the training label" in text


def test_overview_cli_and_report_show_the_same_energy_per_inference(tmp_path, capsys):
    """One row of Table I (mbi.hardware.energy.our_table_row): the Overview, `energy --json` and the
    reproduce report show the same energy per inference for the same model and name its traversal."""
    from mbi.cli import main
    from mbi.hardware.energy import format_energy
    from mbi.runs.reproduce import figure_sections, profile
    from mbi.runs.reproduce.items import ItemContext, run_energy_item

    folder = str(checkpoint.DEFAULT_MODEL_DIR)
    capsys.readouterr()
    assert main(["energy", "--json", "--checkpoint", folder]) == 0
    cli = json.loads(capsys.readouterr().out)
    shown = format_energy(cli["energy_j"])

    at = _open(PAGES[0])
    _ok(at)
    assert _metric(at, "Energy per inference (ours)") == shown
    assert any(cli["traversal_text"] in c.value for c in at.caption)

    cfg = profile("tiny", {"checkpoint": folder})
    energy = run_energy_item(ItemContext(cfg, tmp_path), None)
    results = {"sweeps": {"fig3a": [], "fig3b": [], "fig3c": []}, "tablesize": [], "energy": energy}
    table1 = next(s for s in figure_sections(results, cfg) if s["id"] == "table1")
    assert shown in table1["ours"] and cli["traversal_text"] in table1["why"]
    assert energy["table_one_ours"][0]["energy_j"] == pytest.approx(cli["energy_j"])
