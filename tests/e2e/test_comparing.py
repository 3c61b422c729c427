"""`make report-all` then `make compare`, end to end: real reports of the demo models run concurrently against
one fresh SQLite store, a real comparison notebook executed by papermill, its MLflow run linked to the
compared runs, and both HTML reports opened inside a real `mlflow server`'s artifact viewer in Chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from evalkit import tracking
from evalkit.runner import report_all
from evalkit.compare import ComparisonError
from evalkit.compare import COMPARE_EXPERIMENT, COMPARED_TAG, run_compare
from evalkit.settings import CompareSettings

from tests.conftest import ADULT_TEST, READY_BOUND, ROOT, evalkit_command, new_store, stop_process_group
from tests.browser.test_browser import CHROMIUM_ARGS, chromium_path

pytestmark = [pytest.mark.e2e]
PRODUCTION = ROOT / "data_manifests" / "adult_production_sample.yaml"


@pytest.fixture(scope="module")
def store(tmp_path_factory, migrated_store):
    """A fresh store for this module; the demo models are registered by report-all itself."""
    folder = tmp_path_factory.mktemp("compare-store")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = new_store(folder, migrated_store)
    yield folder
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture(scope="module")
def reported(store, tmp_path_factory):
    """Every registered model (none yet: the demo models are trained first) reported, two at a time."""
    out = tmp_path_factory.mktemp("reports")
    items = report_all(data=ADULT_TEST, jobs=2, report_args=["--n-boot", "100", "--cost-repetitions", "10"],
                       output_root=out)
    return out, items


@pytest.fixture(scope="module")
def compared(reported):
    out, _ = reported
    proc = evalkit_command("compare", "--models", "adult-logreg", "adult-hgb",
                           "--n-boot", "200", "--output-root", str(out), "--no-progress", cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1].removeprefix("mlflow run: ")
    return out / "compare" / "adult-logreg-vs-adult-hgb", run_id, proc


def test_report_all_reports_every_registered_model_into_one_store(reported, store):
    out, items = reported
    assert [(i.model, i.status, i.exit_code) for i in items] == [("adult-hgb", "done", 0), ("adult-logreg", "done", 0)]
    c = tracking.client()
    runs = {i.model: c.get_run(i.run_id) for i in items}
    assert all(r.info.status == "FINISHED" for r in runs.values()) and len({i.run_id for i in items}) == 2
    assert {m: r.data.tags["evalkit.model"] for m, r in runs.items()} == {"adult-hgb": "adult-hgb",
                                                                       "adult-logreg": "adult-logreg"}
    for model, run in runs.items():
        assert {"report.html", "metrics.json", "scores.parquet"} <= {a.path for a in c.list_artifacts(run.info.run_id)}
        assert json.loads((out / model / "metrics.json").read_text())["mlflow_run_id"] == run.info.run_id
    summary = json.loads((out / "report-all" / "summary.json").read_text())
    assert summary["jobs"] == 2 and [r["status"] for r in summary["reports"]] == ["done", "done"]
    import sqlite3

    with sqlite3.connect(store / "mlflow.db") as db:  # the shared store is intact after concurrent writers
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_compare_builds_the_report_and_a_linked_mlflow_run(compared, reported):
    folder, run_id, proc = compared
    _, items = reported
    ids = {i.model: i.run_id for i in items}
    doc = json.loads((folder / "comparison.json").read_text())
    assert doc["baseline"] == "adult-logreg" and doc["same_data"] and doc["n"] == 16281
    assert [c["run_id"] for c in doc["candidates"]] == [ids["adult-logreg"], ids["adult-hgb"]]
    assert doc["mlflow_run_id"] == run_id and doc["leaderboard"][0]["candidate"] == "adult-hgb"
    verdict = doc["verdicts"][0]
    assert verdict["candidate"] == "adult-hgb" and verdict["significant"] and verdict["difference"] > 0.01
    assert 0 < verdict["flip_rate"] < 0.2 and verdict["delong_p"] < 1e-6
    html = (folder / "comparison.html").read_text()
    assert html.rstrip().endswith("</html>") and "Which model is better?" in html and "Traceback" not in html
    from tests.browser.test_browser import check_contents_links

    assert check_contents_links(folder / "comparison.html") == []  # its table of contents lands on every section
    assert "RuntimeWarning" not in html and "Downloading artifacts" not in proc.stderr
    run = tracking.client().get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["evalkit.kind"] == "comparison"
    assert run.data.tags[COMPARED_TAG] == f"{ids['adult-logreg']},{ids['adult-hgb']}"
    assert run.data.tags["evalkit.compared.adult-hgb"] == ids["adult-hgb"]
    assert run.data.metrics["delta/adult-hgb/roc_auc/difference"] == pytest.approx(verdict["difference"], abs=1e-12)
    artifacts = {a.path for a in tracking.client().list_artifacts(run_id)}
    assert {"comparison.html", "comparison.json", "compare_models.ipynb", "figures"} <= artifacts


def test_a_comparison_reproduces_identically(compared, tmp_path):
    """Issue 21: the comparison replayed from its run (the same report runs, settings and seed)."""
    from evalkit.reproduce import reproduce

    _, run_id, _ = compared
    result = reproduce(run_id, output_root=tmp_path, progress=False)
    assert result.kind == "comparison" and result.verdict == "identical", result.differences[:5]
    assert result.settings["n_boot"] == 200 and len(result.verified) == 2
    assert (tmp_path / "reproduction.json").is_file() and list(tmp_path.glob("compare/*/comparison.json"))


def test_compare_refuses_runs_on_different_data_before_any_run(reported):
    out, _ = reported
    other = evalkit_command("report", "--model", "adult-logreg", "--data", str(PRODUCTION), "--n-boot", "0",
                            "--cost-repetitions", "0", "--output-root", str(out / "production"), "--no-progress",
                            cwd=ROOT)
    assert other.returncode == 0, other.stderr
    other_id = other.stdout.strip().splitlines()[-1].removeprefix("mlflow run: ")
    c = tracking.client()
    before = len(c.search_runs([c.get_experiment_by_name(COMPARE_EXPERIMENT).experiment_id]))
    proc = evalkit_command("compare", "--models", "adult-hgb", other_id, "--output-root", str(out), cwd=ROOT)
    assert proc.returncode == 1
    assert "cannot compare adult-hgb and adult-logreg: they were evaluated on different datasets" in proc.stderr
    assert "adult_test (sha256 dd1db71f9756" in proc.stderr and "adult_production_sample (sha256 20934a305b1c" in proc.stderr
    assert "--allow-different-data" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(ComparisonError, match="share no sample"):  # told to: they still share no sample
        run_compare(["adult-hgb", other_id], compare_settings=CompareSettings(allow_different_data=True),
                    output_root=out, progress=False)
    with pytest.raises(ComparisonError, match=r"no finished report of model 'adult-xgb'.*Models with reports: "
                                              r"adult-hgb, adult-logreg"):
        run_compare(["adult-hgb", "adult-xgb"], output_root=out, progress=False)
    assert len(c.search_runs([c.get_experiment_by_name(COMPARE_EXPERIMENT).experiment_id])) == before
    assert not list((out / "compare").glob(".staging-*"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(store):
    """`mlflow server` on the module's store, on 127.0.0.1, stopped by its PID (its whole process group)."""
    port = _free_port()
    log = open(store / "server.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
                             "--port", str(port), "--backend-store-uri", os.environ["MLFLOW_TRACKING_URI"],
                             "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})  # as mlflow-ui
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_BOUND
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start: {(store / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        stop_process_group(proc)
        log.close()


@pytest.mark.browser
def test_html_reports_display_in_the_mlflow_artifact_viewer(mlflow_server, compared, reported, tmp_path):
    from playwright.sync_api import sync_playwright

    _, compare_run, _ = compared
    _, items = reported
    c = tracking.client()
    pages = [(c.get_run(compare_run).info.experiment_id, compare_run, "comparison.html", "Which model is better?"),
             (c.get_run(items[0].run_id).info.experiment_id, items[0].run_id, "report.html", "Good enough?")]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            for experiment, run_id, name, heading in pages:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                outside: list[str] = []
                page.on("request", lambda r, seen=outside: seen.append(r.url) if not r.url.startswith(
                    (mlflow_server, "blob:", "data:")) else None)
                page.goto(f"{mlflow_server}/#/experiments/{experiment}/runs/{run_id}/artifacts/{name}")
                page.wait_for_selector("iframe.mlflow-html-iframe", timeout=60_000)
                deadline = time.monotonic() + READY_BOUND  # the iframe's blob document arrives after the element
                while not (frames := [f for f in page.frames if f.url.startswith("blob:")]):
                    assert time.monotonic() < deadline, [f.url for f in page.frames]
                    page.wait_for_timeout(200)
                frame = frames[0]
                frame.wait_for_load_state("load")
                state = frame.evaluate("""() => ({
                    text: document.body.innerText,
                    images: document.images.length,
                    broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length,
                    links: Array.from(document.querySelectorAll('link[rel=stylesheet], script[src]')).length,
                })""")
                box = page.locator("iframe.mlflow-html-iframe").bounding_box()
                page.screenshot(path=str(tmp_path / f"mlflow-{name}.png"))
                assert heading in state["text"], name
                assert state["images"] >= 4 and state["broken"] == 0, (name, state["images"], state["broken"])
                assert state["links"] == 0 and outside == [], outside  # self-contained: nothing else fetched
                assert box is not None and box["height"] > 300 and box["width"] > 600
                page.close()
        finally:
            browser.close()
