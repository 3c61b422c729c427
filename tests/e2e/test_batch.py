"""`make report-all`: several reports at once against one SQLite store, a failing model among them, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit import tracking
from evalkit.runner import default_jobs, report_all
from evalkit.data import make_biased_scores, write_synthetic_dataset

from tests.conftest import READY_BOUND, ROOT, evalkit_command

pytestmark = [pytest.mark.e2e]
FAST = ["--n-boot", "0", "--cost-repetitions", "0"]


@pytest.fixture
def three_models(tmp_path):
    """One synthetic dataset and three models' predictions files for it."""
    frame = make_biased_scores(1500, seed=3)
    manifest, first = write_synthetic_dataset(tmp_path / "data", frame)
    models = [first]
    for k in (1, 2):
        path = tmp_path / f"model{k}.csv"
        frame.assign(score=(frame["score"] * (1 - 0.1 * k)).round(6))[["id", "score"]].to_csv(path, index=False)
        models.append(path)
    return manifest, [str(m) for m in models]


def _store_db() -> Path:
    return Path(tracking.tracking_uri().removeprefix("sqlite:///"))


def test_concurrent_reports_share_one_store_and_a_failure_stops_no_other(mlflow_store, three_models, tmp_path):
    """Three good models and a bad one (scores for one id only), two at a time, through the CLI."""
    manifest, models = three_models
    bad = tmp_path / "bad.csv"
    bad.write_text("id,score\ns000000,0.5\n")
    proc = evalkit_command("report-all", "--models", *models, str(bad),
                           "--data", str(manifest), "--jobs", "2", "--report-args", " ".join(FAST),
                           "--output-root", str(tmp_path / "reports"), cwd=ROOT)
    assert proc.returncode == 1
    assert "1 of 4 reports did not finish: " in proc.stderr and str(bad) in proc.stderr
    summary = json.loads((tmp_path / "reports" / "report-all" / "summary.json").read_text())
    items = {Path(r["model"]).stem: r for r in summary["reports"]}
    assert items["bad"]["status"] == "failed" and "no score for 1499 of 1500 ids" in items["bad"]["error"]
    assert not (tmp_path / "reports" / "bad" / "report.html").exists()
    good = [items[Path(m).stem] for m in models]
    assert [r["status"] for r in good] == ["done"] * 3 and len({r["run_id"] for r in good}) == 3
    first, second = good[0], good[1]  # two at a time: the second started before the first ended
    assert second["started"] < first["started"] + first["seconds"] and first["started"] < second["started"] + second["seconds"]
    c = tracking.client()
    for item in good:
        run = c.get_run(item["run_id"])
        assert run.info.status == "FINISHED"
        doc = json.loads((Path(item["html"]).parent / "metrics.json").read_text())
        assert doc["mlflow_run_id"] == item["run_id"] and doc["model"] == run.data.tags["evalkit.model"]
        assert len(run.data.metrics) > 100  # every metric of its own report, none lost to a locked database
    with sqlite3.connect(_store_db()) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert sorted(p.name for p in (tmp_path / "reports" / "report-all").iterdir()) == [
        "bad.log", "model1.log", "model2.log", "summary.json", "synthetic_scores.log"]


def test_interrupt_stops_every_report_and_fails_their_runs(mlflow_store, three_models, tmp_path):
    manifest, models = three_models
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "report-all", "--models", *models, "--data",
                             str(manifest), "--jobs", "2", "--report-args", "--cost-repetitions 0",
                             "--output-root", str(tmp_path / "reports")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    logs = tmp_path / "reports" / "report-all"
    deadline = time.monotonic() + READY_BOUND
    while not all((logs / f).is_file() and "executing" in (logs / f).read_text()
                  for f in ("synthetic_scores.log", "model1.log")):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=READY_BOUND)
    assert proc.returncode == 130, err
    c = tracking.client()
    runs = c.search_runs([c.get_experiment_by_name("evalkit").experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FAILED"}  # the third never started
    summary = json.loads((logs / "summary.json").read_text())
    assert [r["status"] for r in summary["reports"]] == ["interrupted", "interrupted", "pending"]
    assert not list((tmp_path / "reports").glob("*/report.html"))


def test_jobs_are_bounded_by_cores(mlflow_store, three_models):
    manifest, models = three_models
    cores = os.cpu_count()
    assert default_jobs(10) == cores and default_jobs(1) == 1
    with pytest.raises(ValueError, match=rf"jobs must be a whole number from 1 to the {cores} CPU cores"):
        report_all(models, data=manifest, jobs=cores + 1)
    with pytest.raises(ValueError, match="without repeats"):
        report_all([models[0], models[0]], data=manifest)
    with pytest.raises(ValueError, match="data: no manifest at"):
        report_all(models, data="nowhere.yaml")
