"""`make explore`: the explorer served by Voilà on 127.0.0.1, driven in Debian's headless Chromium."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from evalkit import evaluate

from tests.conftest import READY_BOUND, ROOT
from tests.browser.test_browser import CHROMIUM_ARGS, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _start(model: str, data: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "explore", "--model", model, "--data", data],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ}, start_new_session=True)
    deadline = time.monotonic() + READY_BOUND
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            pytest.fail(f"make explore exited: {line}{proc.stdout.read()}")
    proc.kill()
    pytest.fail(f"the explorer did not print its URL within {READY_BOUND:.0f} s")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_explorer_app_in_a_real_browser(synthetic_dataset, tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    manifest, preds = synthetic_dataset
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(manifest.parent))
    proc, url = _start(str(preds), str(manifest))
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    try:
        expected = evaluate(str(preds), manifest, threshold=0.3, n_boot=0).by_group.loc["group"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1300, "height": 1500})
            page.goto(url, wait_until="load", timeout=120_000)
            cell = "td[data-group='B'][data-metric='recall']"
            page.wait_for_selector(cell, timeout=120_000)
            before = page.inner_text(cell)
            readout = page.locator(".widget-readout").first  # the threshold slider's editable value
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("0.3")
            page.keyboard.press("Enter")
            page.wait_for_function(f"document.querySelector(\"{cell}\").textContent !== {before!r}", timeout=30_000)
            for group in ("A", "B", "C"):
                for metric in ("recall", "fpr", "precision"):
                    shown = page.inner_text(f"td[data-group='{group}'][data-metric='{metric}']")
                    assert shown == f"{expected.loc[group, metric]:.4g}", (group, metric)
            # the slice list (the report's failing slices) restricts the samples to the slice's rows
            page.locator(".widget-dropdown:has(label:text-is('slice')) select").select_option(index=1)
            page.wait_for_function("document.body.innerText.includes('in slice group = B')", timeout=30_000)
            n_b = int(expected.loc["B", "n"])
            assert f"{n_b:,} samples with score in" in page.inner_text("body")
            page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
            assert (tmp_path / "explorer.png").stat().st_size > 20_000
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the app, Voilà and its kernel, by the process group of the PID
        proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not _port_open(port)
