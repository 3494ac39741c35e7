"""End to end in a real browser: start the dashboard, open every page, move a control, see it update.

Drives Debian's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it) through Playwright's Python
package; Playwright's own browser download is not used. Skipped, with that reason, when Chromium is
absent. Screenshots go to ``test-artifacts/`` (git-ignored) for a human to look at.

The server runs on a free port with its own artifacts folder and the shipped default model
(``MBI_TEST_DEFAULT_MODEL=FOLDER`` points it at another checkpoint, as in ``test_app_pages.py``).
Figures are drawn after the page loads, so every check waits for one first (:data:`FIGURE`: Plotly's
``.main-svg`` or a loaded ``st.image``, e.g. the Overview's SVG figures). Every page is also opened
in a phone-width window (390x844) and must not scroll sideways (Plotly clips its own SVG, so only page
elements count). Waits are generous
(:data:`WAIT_MS`) so a busy 2-core machine only makes the tests slower, not red.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.dashboard_server import CHROMIUM, ROOT, DashboardServer

ARTIFACTS = ROOT / "test-artifacts"
WAIT_MS = 300_000
"""Longest wait for one thing to appear (a hung server fails the test instead of hanging CI)."""
FIGURE = ".main-svg, [data-testid='stImageContainer'] img"
"""A drawn figure: Plotly's SVG, or an image element (``furniture.image``'s SVG documents)."""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent: install Debian's chromium "
                       "(`apt-get install chromium`; .ci/run does) to run the browser tests"),
]

def _fake_sweep(root: Path) -> None:
    """Finished Fig. 3(a) and 3(c) sweeps in the journals the RAM page reads (trials added, no training)."""
    import optuna

    from mbi.runs.sweep import SweepSpec, open_study

    rng = np.random.default_rng(0)
    for name, axes in (("fig3a", {"ram.num_glimpses": [1, 2, 4, 6], "ram.patch_size": [2, 4, 8]}),
                       ("fig3c", {"ram.hidden_size": [64, 128, 256], "ram.core_layers": [1]})):
        spec = SweepSpec.load(ROOT / "mbi" / "specs" / f"{name}.json")
        study = open_study(spec, None, root)
        if spec.mode == "grid":
            combos = [{"ram.hidden_size": h, "ram.core_layers": c} for h in (64, 128, 256) for c in (1, 2)]
        else:
            combos = [{axis: v} for axis, values in axes.items() for v in values]
        for overrides in combos:
            study.add_trial(optuna.trial.create_trial(params={}, distributions={},
                                                      value=float(rng.uniform(0.8, 0.95)),
                                                      user_attrs={"overrides": json.dumps(overrides)}))


def needs_default_model() -> None:
    """Skip (fail under CI) when neither the shipped default model nor a stand-in is there."""
    if not os.environ.get("MBI_TEST_DEFAULT_MODEL") and not (ROOT / "mbi" / "default_model" / "model.pt").is_file():
        reason = "mbi/default_model is missing: the browser tests need the shipped default model"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason + " (set MBI_TEST_DEFAULT_MODEL=FOLDER to use another checkpoint)")


def start_server(home: Path) -> DashboardServer:
    """The dashboard on a free port with ``MBI_HOME=home`` (no hosting limits), once it answers its health check."""
    server = DashboardServer(home)
    try:
        server.wait_healthy(WAIT_MS / 1000)
    except RuntimeError as e:
        server.stop()
        pytest.fail(str(e))
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard on a free port (its own MBI_HOME), stopped after the module."""
    needs_default_model()
    home = tmp_path_factory.mktemp("artifacts")
    _fake_sweep(home)
    dashboard = start_server(home)
    yield {"url": dashboard.url, "home": home, "log": dashboard.log_path}
    dashboard.stop()


@pytest.fixture(scope="module")
def warm(server, browser):
    """Open the home page once before the tests.

    The first script run of a Streamlit process still treats ``pages/`` as old-style pages, so a deep
    link (e.g. ``/ram``) opened as the very first request shows a "Page not found" notice over the
    right page; every later request is normal. The tests check the normal case, in any order.
    """
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.goto(server["url"] + "/")
    pg.wait_for_selector(FIGURE)
    context.close()


@pytest.fixture()
def page(browser, warm, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    _shot(pg, f"{request.node.name}-final")
    context.close()
    assert not errors, errors


def _shot(pg, name: str) -> None:
    """Screenshot of the whole page (the app scrolls inside its main block, so the viewport is grown)."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = pg.viewport_size
    height = pg.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
                         "section, .main')].map(e => e.scrollHeight), document.body.scrollHeight)")
    pg.set_viewport_size({"width": size["width"], "height": min(int(height) + 50, 8000)})
    pg.wait_for_timeout(300)  # let Plotly resize to the new viewport
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    pg.set_viewport_size(size)


def _ready(pg) -> None:
    """Wait until the script run is over and a figure is drawn."""
    pg.wait_for_selector(FIGURE)
    _settled(pg)


def _settled(pg) -> None:
    """Wait until the script run is over: Streamlit's own run state, not only its running indicator (which can be
    absent while a long run is still going)."""
    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                         "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'")


def _no_exception(pg) -> None:
    assert pg.locator("[data-testid='stException']").count() == 0
    assert pg.get_by_text("Traceback").count() == 0


TITLE_TEXT_JS = "e => [...e.querySelectorAll('tspan.line')].map(t => t.textContent).join(' ') || e.textContent"
"""A Plotly title's text, its lines (a long title is broken for narrow windows) joined by spaces."""


def _titles(pg) -> list[str]:
    return pg.evaluate(f"() => [...document.querySelectorAll('.gtitle')].map({TITLE_TEXT_JS})")


def _wait_title(pg, prefix: str) -> None:
    pg.wait_for_function(f"p => [...document.querySelectorAll('.gtitle')].some(e => ({TITLE_TEXT_JS})(e).startsWith(p))",
                         arg=prefix)


CAPTIONS_JS = "() => [...document.querySelectorAll('[data-testid=\"stImageCaption\"]')].map(e => e.textContent)"
"""The captions of the page's images (``furniture.image``: an SVG figure's title)."""


def _wait_caption(pg, prefix: str) -> None:
    pg.wait_for_function(f"p => ({CAPTIONS_JS})().some(t => t.startsWith(p))", arg=prefix)


def _wait_url(pg, fragment: str) -> None:
    pg.wait_for_function("f => location.search.includes(f)", arg=fragment)


def _slider_right(pg, label: str, presses: int = 1) -> None:
    thumb = pg.get_by_role("slider", name=label)
    thumb.focus()
    for _ in range(presses):
        thumb.press("ArrowRight")


def test_overview_opens_and_its_gallery_follows_the_number_input(server, page):
    page.goto(server["url"] + "/")
    _ready(page)
    _no_exception(page)
    _wait_caption(page, "#0:")
    page.get_by_text("The chosen model beside the paper").wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImageContainer\"] img')]"
                           ".filter(e => e.complete && e.naturalWidth > 0).length === 5")  # pipeline + 4 digits
    alts = page.evaluate("() => [...document.querySelectorAll('[data-testid=\"stImageContainer\"] img')]"
                         ".map(e => e.getAttribute('alt'))")
    assert alts[0].startswith("The MBI pipeline") and all(a.startswith("Test image #") for a in alts[1:]), alts
    assert page.locator(".main-svg").count() == 0  # the first view needs no Plotly figure
    _shot(page, "overview-light")
    box = page.get_by_label("First test image", exact=True).and_(page.get_by_test_id("stNumberInputField"))
    box.fill("8")
    box.press("Enter")
    _wait_caption(page, "#8:")
    page.wait_for_function(f"() => !({CAPTIONS_JS})().some(t => t.startsWith('#0:'))")
    _wait_url(page, "first=8")
    _no_exception(page)


def test_overview_is_readable_in_the_dark_theme(server, browser, warm):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.goto(server["url"] + "/")
    _ready(pg)
    background = pg.evaluate("() => getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    text = pg.evaluate("() => getComputedStyle(document.querySelector('h1')).color")
    _shot(pg, "overview-dark")
    context.close()
    dark = [int(x) for x in background[background.index("(") + 1: background.index(")")].split(",")[:3]]
    light_text = [int(x) for x in text[text.index("(") + 1: text.index(")")].split(",")[:3]]
    assert sum(dark) < 150 and sum(light_text) > 450


def test_glimpse_step_slider_and_bad_url(server, page):
    page.goto(server["url"] + "/glimpses")
    _ready(page)
    _no_exception(page)
    _wait_title(page, "Glimpse 1: what the RAM sees")
    _slider_right(page, "Glimpse step", 2)
    _wait_title(page, "Glimpse 3: what the RAM sees")
    _wait_url(page, "step=3")
    _shot(page, "glimpses")
    page.goto(server["url"] + "/glimpses?step=abc&image=123456")
    _ready(page)
    page.get_by_text("The link had settings this page cannot use").wait_for()
    _wait_title(page, "RAM on test image #9999")
    _no_exception(page)
    _shot(page, "glimpses-bad-url")


def test_choosing_the_fashion_model_switches_the_images_and_classes(server, page):
    """The sidebar's model chooses the dataset: the glimpse page's figures change to Fashion-MNIST's images and
    class names, and the URL keeps the choice."""
    from mbi.data import load_dataset

    if not (ROOT / "mbi" / "fashion_model" / "model.pt").is_file():
        pytest.skip("the shipped Fashion-MNIST model (mbi/fashion_model) is missing")
    try:
        load_dataset("fashion-mnist")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    ticks = "() => [...document.querySelectorAll('.xtick text')].map(e => e.textContent)"
    page.goto(server["url"] + "/glimpses")
    _ready(page)
    _wait_title(page, "Class probabilities")
    assert "Ankle boot" not in page.evaluate(ticks)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Model").click()
    page.get_by_role("option", name="Shipped Fashion-MNIST model").click()
    _wait_url(page, "model=fashion-mnist")
    page.wait_for_function(ticks.replace(".map(e => e.textContent)", ".some(e => e.textContent === 'Ankle boot')"))
    sidebar.get_by_text("Fashion-MNIST: 4 glimpses").wait_for()
    _settled(page)
    _no_exception(page)
    _shot(page, "glimpses-fashion-mnist")


def test_sram_sigma_slider_changes_the_gap(server, page):
    page.goto(server["url"] + "/hardware")
    _ready(page)
    _no_exception(page)
    gap = page.get_by_test_id("stMetric").filter(has_text="Smallest level gap").get_by_test_id("stMetricValue")
    before = gap.inner_text()
    _slider_right(page, "sigma_VTH (mV)", 4)  # 60 -> 80 mV
    page.wait_for_function("([el, old]) => el.textContent !== old", arg=[gap.element_handle(), before])
    _wait_url(page, "sigma=80")
    assert gap.inner_text() != before
    _no_exception(page)
    _shot(page, "hardware")


def test_ram_page_sweeps_and_a_live_training(server, page):
    page.goto(server["url"] + "/ram?view=sweeps")
    _ready(page)
    _no_exception(page)
    _wait_title(page, "Fig. 3(a)")
    page.get_by_text("Fig. 3(c): hidden size and core layers").click()
    _wait_title(page, "Fig. 3(c)")
    _wait_url(page, "sweep=fig3c")
    _shot(page, "ram-sweeps")
    query = ("num_glimpses=2&hidden_size=64&state_size=16&glimpse_hidden=32&loc_hidden=32&glimpse_size=64"
             "&epochs=2&train_images=500&val_images=500")
    page.goto(server["url"] + "/ram?" + query)
    page.get_by_role("button", name="Start training").wait_for()
    _settled(page)
    _slider_right(page, "Glimpses", 1)  # 2 -> 3 glimpses: the URL follows the knob
    _wait_url(page, "num_glimpses=3")
    page.get_by_role("button", name="Start training").click()
    _wait_title(page, "Training 'my run'")  # live curves, redrawn by the fragment every second
    # leave the page and come back: the run (and its curves) are still there
    nav = page.get_by_test_id("stSidebarNavItems")
    nav.get_by_role("link", name="Overview").click()
    _wait_caption(page, "#0:")  # the Overview's gallery (images with captions)
    nav.get_by_role("link", name="RAM hyperparameters").click()
    _wait_title(page, "Training 'my run'")
    page.get_by_text("Best validation accuracy").wait_for()
    _no_exception(page)
    _shot(page, "ram-trained")
    assert list((server["home"] / "runs" / "app").glob("*/model.pt"))


# --------------------------------------------------------------------------- lookup pages (table, search, tree, mixed)


def _lookup_ready() -> None:
    from mbi.runs.tracecache import table_ready

    if not os.environ.get("MBI_TEST_DEFAULT_MODEL") and not table_ready("default"):
        pytest.skip("the default model has no lookup table (table.npz): the lookup pages need it")


_METRIC_JS = ("label => { const m = [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
              ".find(m => m.textContent.includes(label)); "
              "return m ? m.querySelector('[data-testid=\"stMetricValue\"]').textContent : null; }")


def _metric_text(pg, label: str) -> str:
    """The value of the metric labelled ``label`` (waits until it is shown; read afresh, reruns replace it)."""
    pg.wait_for_function(_METRIC_JS, arg=label)
    return pg.evaluate(_METRIC_JS, label)


def _metric_changes(pg, label: str, before: str) -> None:
    """Wait until the metric labelled ``label`` shows something else (found afresh: reruns may replace it)."""
    pg.wait_for_function(
        "([label, old]) => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some(m => "
        "m.textContent.includes(label) && m.querySelector('[data-testid=\"stMetricValue\"]').textContent !== old)",
        arg=[label, before])


def test_mixed_threshold_slider_moves_share_and_curve(server, page):
    _lookup_ready()
    page.goto(server["url"] + "/mixed?images=100")
    _ready(page)
    _no_exception(page)
    _wait_title(page, "Mixed MBI (Fig. 5)")
    # the page's last figure: the learned gate's section above it computes after the first figures are drawn, and a
    # key pressed on the slider while that part of the run is still going is lost (seen with Chromium 156)
    _wait_title(page, "Mixed MBI per class at threshold")
    _settled(page)
    before = _metric_text(page, "Answered by lookup")
    thumb = page.get_by_role("slider", name="Distance threshold")
    thumb.focus()
    thumb.press("Home")  # threshold 0: only exact matches are answered by lookup
    _metric_changes(page, "Answered by lookup", before)
    _wait_url(page, "thr=0")
    _wait_title(page, "Mixed MBI per class at threshold 0.0")
    _settled(page)
    _no_exception(page)
    _shot(page, "mixed")


def test_table_size_budget_slider(server, page):
    _lookup_ready()
    page.goto(server["url"] + "/table?images=100")
    _ready(page)
    _no_exception(page)
    _wait_title(page, "Lookup accuracy vs table size")
    before = _metric_text(page, "Rows")
    thumb = page.get_by_role("slider", name="Row budget")
    thumb.focus()
    thumb.press("Home")
    _metric_changes(page, "Rows", before)
    _wait_url(page, "rows=1000")
    _settled(page)
    assert _metric_text(page, "Rows") == "1,000"
    _no_exception(page)
    _shot(page, "table-size")


def test_cluster_tree_click_on_a_node(server, page):
    _lookup_ready()
    page.goto(server["url"] + "/tree?images=100")
    _ready(page)
    _no_exception(page)
    _wait_title(page, "Node 0: its centroid")
    chart = page.get_by_test_id("stPlotlyChart").first
    box = chart.bounding_box()
    # the icicle's second row holds the root's children: click the first one
    page.mouse.click(box["x"] + box["width"] * 0.12, box["y"] + box["height"] * 0.33)
    _wait_url(page, "node=")
    page.wait_for_function(f"() => [...document.querySelectorAll('.gtitle')].some(e => /^Node [1-9][0-9]*: its "
                           f"centroid/.test(({TITLE_TEXT_JS})(e)))")
    _settled(page)
    _no_exception(page)
    _shot(page, "cluster-tree")


def test_metric_search_runs_live_and_applies_the_weights(server, page):
    _lookup_ready()
    page.goto(server["url"] + "/weights?images=100&trials=2")
    page.get_by_role("button", name="Run 2 more trials").wait_for()
    _settled(page)
    _no_exception(page)
    page.get_by_role("button", name="Run 2 more trials").click()
    _wait_title(page, "Slice Plot")  # the finished study's own Optuna plots
    _settled(page)
    apply = page.get_by_role("button", name="Apply the best weights everywhere")
    if apply.count():  # (absent when the best trial equals the weights already in use)
        apply.click()
        _wait_url(page, "wb=")
        page.get_by_text("These weights are in use on every lookup page").wait_for()
    _no_exception(page)
    _shot(page, "metric-search")


def test_mixed_page_is_readable_in_the_dark_theme(server, browser, warm):
    _lookup_ready()
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.goto(server["url"] + "/mixed?images=100&thr=5")
    _ready(pg)
    _wait_title(pg, "Mixed MBI (Fig. 5)")
    _no_exception(pg)
    _shot(pg, "mixed-dark")
    color = pg.evaluate("() => getComputedStyle(document.querySelector('.gtitle')).fill")
    context.close()
    assert color and sum(int(x) for x in color[color.index("(") + 1: color.index(")")].split(",")[:3]) > 450


# --------------------------------------------------------------------------- teaching: draw a digit, phone width


def _draw_a_seven(pg) -> None:
    """A '7' drawn with the mouse on the canvas (Fabric.js listens on its upper canvas)."""
    canvas = pg.locator("canvas.upper-canvas").first
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    points = [(0.25, 0.2), (0.5, 0.2), (0.75, 0.2), (0.65, 0.45), (0.55, 0.65), (0.45, 0.85)]
    pg.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * h)
    pg.mouse.down()
    for fx, fy in points[1:]:
        pg.mouse.move(x0 + fx * w, y0 + fy * h, steps=8)
    pg.mouse.up()


def test_draw_a_digit_step_both_paths_and_match_mbi(server, page):
    _lookup_ready()
    from PIL import Image

    from dashboard.session_weights import as_session_weights
    from mbi.inference.lookup import lookup_infer
    from mbi.memory.lut import cached_table
    from mbi.model.checkpoint import load_model, lookup_settings
    from mbi.model.predict import predict

    page.goto(server["url"] + "/glimpses?source=draw")
    page.locator("canvas.upper-canvas").first.wait_for()
    _settled(page)
    _draw_a_seven(page)
    _wait_title(page, "what the RAM gets (28x28)")
    _wait_title(page, "RAM on your drawing")
    _wait_title(page, "Lookup on your drawing")
    _wait_title(page, "Both paths on your drawing (glimpse 1 of")
    _settled(page)
    steps = int(page.evaluate(f"() => [...document.querySelectorAll('.gtitle')].map({TITLE_TEXT_JS})"
                              ".find(t => t.startsWith('Both paths on your drawing')).match(/of (\\d+)/)[1]"))
    for k in range(2, steps + 1):
        page.get_by_role("button", name="Step", exact=True).click()
        _wait_title(page, f"Both paths on your drawing (glimpse {k} of {steps})")
        _settled(page)
    assert page.get_by_role("button", name="Step", exact=True).is_disabled()
    _wait_title(page, f"Both paths, glimpses 1 to {steps}")
    _no_exception(page)
    _shot(page, "drawing")
    ram_says, lookups_say = _metric_text(page, "The RAM says"), _metric_text(page, "The lookups say")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the 28x28 digit (PNG)").click()
    pixels = np.asarray(Image.open(download.value.path()))
    assert pixels.shape == (28, 28) and pixels.max() > 0
    standin = os.environ.get("MBI_TEST_DEFAULT_MODEL") or "default"
    model = load_model(standin)
    assert ram_says == str(int(predict(model, pixels[None])[0]))
    weights = as_session_weights(lookup_settings(standin).get("weights", (1.0, 1.0, 1.0)))
    looked_up = lookup_infer(model, cached_table(standin), pixels[None], weights=weights)
    assert lookups_say == str(int(looked_up.prediction[0]))


NARROW = {"width": 390, "height": 844}
"""A phone's window (CSS px)."""
PHONE_PAGES = {"overview": "/", "ram": "/ram", "glimpses": "/glimpses", "hardware": "/hardware",
               "table": "/table?images=100", "weights": "/weights?images=100", "tree": "/tree?images=100",
               "mixed": "/mixed?images=100"}
LOOKUP_PAGES = {"table", "weights", "tree", "mixed"}

_OVERFLOW_JS = """() => {
    const main = document.querySelector('[data-testid="stMain"]') || document.documentElement;
    const clipped = e => {  // hidden, or inside a box that clips it within the window
        for (let a = e; a && a !== main; a = a.parentElement) {
            const st = getComputedStyle(a);
            if (st.visibility === 'hidden' || st.opacity === '0') return true;
            if (a !== e && ['hidden', 'clip'].includes(st.overflowX)
                && a.getBoundingClientRect().right <= window.innerWidth + 1) return true;
        }
        return false;
    };
    const wide = [...main.querySelectorAll('*')].filter(e => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.right > window.innerWidth + 1 && getComputedStyle(e).position !== 'fixed'
            && !e.closest('[data-testid="stSidebar"]') && !e.closest('svg') && !clipped(e);
    }).map(e => [e.getAttribute('data-testid') || e.tagName, e.getAttribute('aria-label') || e.className,
                 Math.round(e.getBoundingClientRect().right)].join(' '));
    return {scroll: main.scrollWidth - main.clientWidth, doc: document.documentElement.scrollWidth - window.innerWidth,
            wide: wide.slice(0, 5)};
}"""


@pytest.mark.parametrize("name", list(PHONE_PAGES))
def test_every_page_reads_on_a_phone(server, browser, warm, name):
    if name in LOOKUP_PAGES:
        _lookup_ready()
    context = browser.new_context(viewport=NARROW, is_mobile=True, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.goto(server["url"] + PHONE_PAGES[name])
    pg.wait_for_selector("h1")
    if name not in ("ram", "weights"):  # these two draw figures only once something was trained or searched
        _ready(pg)
    _settled(pg)
    pg.wait_for_timeout(500)  # let Plotly fit the narrow window
    _no_exception(pg)
    overflow = pg.evaluate(_OVERFLOW_JS)
    _shot(pg, f"phone-{name}")
    context.close()
    assert overflow["scroll"] <= 1 and overflow["doc"] <= 1, overflow
    assert not overflow["wide"], overflow
