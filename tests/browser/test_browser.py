"""The rendered report in a real headless Chromium (Debian's, driven by Playwright; no browser download)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def page_report(synthetic_report_dir):
    return synthetic_report_dir / "report.html"


@pytest.fixture(scope="module")
def synthetic_report_dir(tmp_path_factory):
    from evalkit.runner import run_report
    from evalkit.data import make_biased_scores, write_synthetic_dataset

    folder = tmp_path_factory.mktemp("browser")
    manifest, preds = write_synthetic_dataset(folder / "data", make_biased_scores(3000, seed=11))
    result = run_report(str(preds), manifest, output_root=folder / "reports", track=False, progress=False)
    return result.output_dir


def open_report(html: Path, screenshot: Path):
    from playwright.sync_api import sync_playwright

    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.as_uri(), wait_until="load")
            state = page.evaluate("""() => ({
                images: document.images.length,
                broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length,
                code: document.querySelectorAll('.jp-CodeCell .jp-InputArea, .jp-CodeMirrorEditor, .jp-InputPrompt, .highlight').length,
                text: document.body.innerText,
            })""")
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    return state, requests, errors


def test_report_in_headless_chromium(page_report, tmp_path):
    shot = tmp_path / "report.png"
    state, requests, errors = open_report(page_report, shot)
    assert state["images"] >= 7
    assert state["broken"] == 0
    assert state["code"] == 0
    assert "import evalkit" not in state["text"]
    assert "Good enough?" in state["text"] and "Fair enough?" in state["text"]
    assert errors == []
    external = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert external == []
    assert shot.stat().st_size > 10_000


def check_contents_links(html: Path) -> list[str]:
    """Open ``html`` in Chromium, follow every link of its table of contents and return the sections whose
    heading did not land in the viewport (empty when all did)."""
    from playwright.sync_api import sync_playwright

    missed = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(html.as_uri(), wait_until="load")
            links = page.eval_on_selector_all("nav.evalkit-toc a", "as => as.map(a => a.getAttribute('href'))")
            assert len(links) >= 3, links
            for href in links:
                page.click(f"nav.evalkit-toc a[href='{href}']")
                page.wait_for_function("h => location.hash === h", arg=href)
                box = page.evaluate("""id => { const a = document.getElementById(id);
                    const h = a.parentElement.querySelector('h2') || a.nextElementSibling;
                    const r = (h || a).getBoundingClientRect(); return [r.top, window.innerHeight]; }""", href[1:])
                if not -2 <= box[0] < box[1]:  # sub-pixel rounding puts a landed anchor a fraction above 0
                    missed.append(href)
        finally:
            browser.close()
    return missed


def test_every_contents_link_lands_on_its_section(page_report):
    assert check_contents_links(page_report) == []
