"""A public server in a real browser: Markdown/HTML-bearing names (link parameters, a run name, another
visitor's training) never become a link or an image, and the first page view of a fresh server (also on
the Overview's own path ``/start``) shows no "Page not found" dialog.

Uses the server and browser setup of ``test_browser.py`` (Debian's ``/usr/bin/chromium`` through
Playwright); each fixture here starts its own fresh server, so "the first view" really is the first.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest

from tests.test_browser import CHROMIUM, WAIT_MS, _no_exception, _ready, _settled, _shot, needs_default_model, start_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent: install Debian's chromium "
                       "(`apt-get install chromium`; .ci/run does) to run the browser tests"),
]

EVIL = "evil.example"
RUN_NAME = "[Click here](https://evil.example/r) <a href='https://evil.example/h'>h</a> ![i](https://evil.example/i.png)"
OFFENDERS_JS = f"""() => [...document.querySelectorAll('a, img, image, iframe, link, object, embed, source, video')]
    .filter(e => [...e.attributes].some(a => a.value.includes('{EVIL}')))
    .map(e => e.outerHTML.slice(0, 200))"""


def _context_page(browser, requests: list[str] | None = None):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    if requests is not None:
        pg.on("request", lambda r: requests.append(r.url))
    return context, pg


def _no_page_not_found(pg) -> None:
    pg.wait_for_selector("h1")  # the page's title (not every page draws a figure at once)
    _settled(pg)
    pg.wait_for_timeout(1500)  # the dialog, when it comes, comes right after the first draw
    assert pg.get_by_text("Page not found").count() == 0
    _no_exception(pg)


@pytest.mark.parametrize("first", ["/", "/start", "/ram"])
def test_first_view_of_a_fresh_server_shows_no_page_not_found(browser, tmp_path, first):
    needs_default_model()
    server = start_server(tmp_path)
    url = server.url
    try:
        context, pg = _context_page(browser)
        pg.goto(url + first)  # the very first request this server process answers
        _no_page_not_found(pg)
        _shot(pg, f"first-view{first.replace('/', '-')}")
        for path in ("/start", "/ram", "/"):
            pg.goto(url + path)
            _no_page_not_found(pg)
        context.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def evil_server(tmp_path_factory, small_mnist):
    """A fresh server whose artifacts hold a finished app run named with Markdown and HTML."""
    needs_default_model()
    from mbi.config import RAMConfig, RunConfig, TrainConfig
    from mbi.model.train import train
    from mbi.store import atomic_write_json

    home = tmp_path_factory.mktemp("artifacts")
    run = home / "runs" / "app" / "20260101-000000-evil-0000"
    cfg = RunConfig(RAMConfig(num_glimpses=2, hidden_size=32, glimpse_hidden=32, loc_hidden=16, glimpse_size=32,
                              state_size=16), TrainConfig(epochs=1, batch_size=64, num_threads=1, train_limit=256,
                                                          val_limit=200))
    list(train(cfg, run, data=small_mnist))
    atomic_write_json(run / "job.json", {"id": "x", "name": RUN_NAME, "state": "done", "error": None, "owner": "o",
                                         "started": "2026-01-01T00:00:00+00:00", "finished": None,
                                         "best_val_acc": json.loads((run / "metrics.json").read_text())["best_val_acc"]})
    server = start_server(home)
    yield server.url
    server.stop()


def _assert_inert(pg, requests: list[str]) -> None:
    _settled(pg)
    pg.wait_for_timeout(500)
    assert pg.evaluate(OFFENDERS_JS) == []
    assert not [r for r in requests if EVIL in (urlparse(r).hostname or "")]  # nothing fetched from there
    _no_exception(pg)


@pytest.mark.parametrize("path, shown", [
    ("/?model=[Sign in again](https://evil.example/login)", "is not available here"),
    ("/hardware?encoding=![x](https://evil.example/p.png)&discharge=1e308", "must be one of"),
    ("/glimpses?step=<img src='https://evil.example/s.png'>&image=1e308", "must be a number"),
    ("/ram?view=compare&loc_std=1e308", "location noise"),
    ("/?wb=[x](https://evil.example/w)&wc=-1e308", "weights were fixed"),
])
def test_link_parameters_never_become_links_or_images(browser, evil_server, path, shown):
    requests: list[str] = []
    context, pg = _context_page(browser, requests)
    pg.goto(evil_server + path)
    _ready(pg)
    pg.get_by_text(shown).first.wait_for()
    _assert_inert(pg, requests)
    page, query = path.split("?", 1)
    _shot(pg, f"inert-{page.strip('/') or 'start'}-{query.split('=')[0]}")  # one screenshot per link
    context.close()


def test_run_names_never_become_links_or_images(browser, evil_server):
    """The stored run (compare view: legend, table) and a live run of another visitor named with Markdown."""
    requests: list[str] = []
    context, pg = _context_page(browser, requests)
    pg.goto(evil_server + "/ram?view=compare")
    _ready(pg)
    pg.wait_for_function("n => [...document.querySelectorAll('.legendtext')].some(e => e.textContent.includes(n))",
                         arg="Click here")
    _assert_inert(pg, requests)
    _shot(pg, "inert-run-compare")

    query = "num_glimpses=2&hidden_size=64&state_size=16&glimpse_hidden=32&loc_hidden=32&glimpse_size=64&epochs=3"
    pg.goto(evil_server + "/ram?" + query)
    pg.get_by_role("button", name="Start training").wait_for()
    _settled(pg)
    pg.get_by_label("Run name").fill("[Click](https://evil.example/live)")
    pg.get_by_label("Run name").press("Enter")
    _settled(pg)
    pg.get_by_role("button", name="Start training").click()
    pg.get_by_text("Click](https://evil.example/live)").first.wait_for()  # the progress text, shown literally
    other, pg2 = _context_page(browser, requests)
    pg2.goto(evil_server + "/ram")
    pg2.get_by_text("Another visitor's run").wait_for()  # no figure on this view: the live curves are the owner's
    _assert_inert(pg2, requests)
    _shot(pg2, "inert-another-visitor")
    other.close()
    _assert_inert(pg, requests)
    pg.get_by_role("button", name="Stop training").click()
    pg.get_by_text("Stopped by request").first.wait_for()
    context.close()
