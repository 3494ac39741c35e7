"""Teaching views under AppTest: the training form starts from the chosen model, a smaller copy trains in
one click within the hosted limits, and every link of the Overview's class demo opens its page on exactly
the settings it names (parsed by ``mbi.urlstate`` against the page's own declared ``Param`` list).

Like ``test_app_pages.py`` these run on the shipped default model (or ``MBI_TEST_DEFAULT_MODEL``).
"""

from __future__ import annotations

import os
import time

import pytest

from dashboard.demo import STEPS
from mbi.config import RunConfig
from mbi.model.checkpoint import load_config
from mbi.runs.jobs import HOSTED_LIMITS, WIDTH_FIELDS
from tests.apptools import ok, open_page

pytestmark = pytest.mark.usefixtures("default_model", "artifacts")

RAM_PAGE = "dashboard/pages/ram_hyperparameters.py"
FORM_RAM = ("num_glimpses", "patch_size", "glimpse_scale", "num_patches", "core_layers", "patch_bits", "hidden_bits",
            "loc_std", "loc_grid") + WIDTH_FIELDS


def _form(at) -> dict:
    return {name: at.session_state[f"ram.{name}"] for name in FORM_RAM + ("epochs", "train_images", "val_images",
                                                                           "batch_size", "lr", "seed", "augment_shift")}


def _expected(cfg: RunConfig) -> dict:
    r, t = cfg.ram, cfg.train
    out = {name: getattr(r, name) for name in FORM_RAM}
    out.update(epochs=t.epochs, train_images=t.train_limit or 50_000, val_images=t.val_limit or 10_000,
               batch_size=t.batch_size, lr=t.lr, seed=t.seed, augment_shift=t.augment_shift)
    return out


def test_the_training_form_starts_from_the_chosen_models_config():
    cfg = load_config("default")
    at = open_page(RAM_PAGE)
    ok(at)
    assert _form(at) == _expected(cfg)
    # the widgets show it too (e.g. the shipped model's 4 glimpses of 8x8, not the package's 6 of 4x4)
    assert at.slider(key="ram.num_glimpses").value == cfg.ram.num_glimpses
    assert at.slider(key="ram.patch_size").value == cfg.ram.patch_size
    assert at.select_slider(key="ram.hidden_size").value == cfg.ram.hidden_size
    assert "num_glimpses" not in at.query_params  # the chosen model's values are the defaults: a short URL


def test_on_a_hosted_server_the_form_is_the_chosen_model_within_the_limits(monkeypatch):
    monkeypatch.setenv("MBI_HOSTED", "1")
    cfg = load_config("default")
    at = open_page(RAM_PAGE)
    ok(at)
    form = _form(at)
    assert form["num_glimpses"] == cfg.ram.num_glimpses and form["patch_size"] == cfg.ram.patch_size
    assert form["epochs"] == min(cfg.train.epochs, HOSTED_LIMITS.max_epochs)
    assert form["train_images"] == HOSTED_LIMITS.max_train_images
    assert all(form[n] == min(getattr(cfg.ram, n), HOSTED_LIMITS.max_hidden) for n in WIDTH_FIELDS)


def test_train_a_smaller_copy_in_one_click(artifacts):
    cfg = load_config("default")
    at = open_page(RAM_PAGE)
    ok(at)
    at.button(key="train_copy").click().run()
    ok(at)
    assert "train_job" in at.session_state, "one click starts the training"
    for _ in range(3000):  # the training thread writes job.json once it runs
        runs = list((artifacts / "runs" / "app").glob("*/job.json"))
        if runs:
            break
        time.sleep(0.1)
    assert len(runs) == 1
    while not (runs[0].parent / "config.json").is_file():  # written by the training thread once it starts
        time.sleep(0.3)
    runs = [runs[0].parent / "config.json"]
    started = RunConfig.from_dict(__import__("json").loads(runs[0].read_text()))
    for name in ("num_glimpses", "patch_size", "glimpse_scale", "num_patches", "core_layers", "patch_bits",
                 "hidden_bits", "loc_grid"):
        assert getattr(started.ram, name) == getattr(cfg.ram, name), name
    assert all(getattr(started.ram, n) <= HOSTED_LIMITS.max_hidden for n in WIDTH_FIELDS)
    HOSTED_LIMITS.check(started)
    assert started.train.epochs <= HOSTED_LIMITS.max_epochs
    # the form shows what is training; stop it (finished work is kept)
    assert at.session_state["ram.train_images"] == started.train.train_limit
    while not any(b.key == "stop_training" for b in at.button):
        time.sleep(0.3)
        at.run()
    at.button(key="stop_training").click().run()
    while any(b.key == "stop_training" for b in at.button):
        time.sleep(0.3)
        at.run()
    ok(at)


@pytest.mark.parametrize("step", STEPS, ids=[s.topic for s in STEPS])
def test_each_demo_link_opens_its_view(step):
    if step.url_path in ("tree", "mixed"):
        from mbi.runs.tracecache import table_ready

        if not os.environ.get("MBI_TEST_DEFAULT_MODEL") and not table_ready("default"):
            pytest.skip("the default model has no lookup table")
    at = open_page(step.page, step.query())
    ok(at)
    assert not [w.value for w in at.warning if "The link had settings" in w.value]
    for name, value in step.settings.items():
        assert at.session_state[f"{step.url_path}.{name}"] == value, name
    assert step.look_at.endswith(".") and len(step.look_at.split(". ")) == 1  # one sentence


def test_the_overview_lists_the_demo_and_offers_the_canvas_on_demand():
    at = open_page(None)
    ok(at)
    links = [el for el in at.get("page_link")]
    labels = [el.proto.label for el in links]
    for i, step in enumerate(STEPS, start=1):
        assert f"{i}. {step.topic}" in labels
    assert len(STEPS) == 5
    at.toggle(key="overview_draw").set_value(True).run()
    ok(at)
    assert any("Draw a digit on the black square" in i.value for i in at.info)
