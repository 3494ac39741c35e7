"""PNG export of a written reproduction report (the figures RESULTS.md shows)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def export_images(report_html: str | Path, out_dir: str | Path, chromium: str | Path | None = None) -> list[Path]:
    """Render every figure of a written ``report.html`` to ``OUT_DIR/<figure id>.png`` (for RESULTS.md).

    Opens the offline report in a headless Chromium (``chromium``, else ``$MBI_CHROMIUM``, else
    ``/usr/bin/chromium``) through Playwright, waits until each Plotly figure has drawn, and
    screenshots its element. Returns the written files.
    """
    import os

    exe = Path(chromium or os.environ.get("MBI_CHROMIUM", "/usr/bin/chromium"))
    if not exe.is_file():
        raise FileNotFoundError(f"no Chromium at {exe}: install it (Debian: `apt-get install -y chromium`) "
                                "or point MBI_CHROMIUM at a Chromium binary")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is in requirements.txt
        raise RuntimeError("exporting figure images needs the playwright package (pip install playwright)") from exc
    report = Path(report_html).resolve()
    if not report.is_file():
        raise FileNotFoundError(f"no report at {report}; run `python -m mbi reproduce` first")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(exe), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=1)
            page.goto(report.as_uri())
            for div in page.query_selector_all("div.plotly-graph-div[id^='plot-']"):
                div.wait_for_selector(".main-svg", state="attached")
                fid = div.get_attribute("id").removeprefix("plot-")
                path = out / f"{fid}.png"
                tmp = path.with_suffix(".png.tmp")
                tmp.write_bytes(div.screenshot(type="png"))
                os.replace(tmp, path)
                written.append(path)
        finally:
            browser.close()
    return written
