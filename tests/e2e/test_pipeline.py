"""The one run skeleton (evalkit/runner/_pipeline.py) with a pipeline of its own: a new kind of report supplies
only its validation, run, parameters and logging, and gets staging, publishing and failure handling for free."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from evalkit import ReportError, RunOptions, tracking
from evalkit.runner import Outputs, Pipeline, Target, run_pipeline


def _notebook(folder: Path, body: str) -> Path:
    nb = new_notebook(cells=[
        new_code_cell("value: int = 0\nrun_id = None\noutput_dir = None", metadata={"tags": ["parameters"]}),
        new_code_cell(body)], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                       "language": "python"}})
    path = folder / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def _pipeline(notebook: Path, out: Path, calls: list[str], *, early: bool = False) -> Pipeline:
    def start_run(target: Target) -> str:
        calls.append("start")
        return tracking.start_run(experiment="tiny", run_name="tiny", params={"value": 7}, tags={})

    def log_record(run_id: str, target: Target, record) -> None:
        calls.append(f"record {record['value']}")
        tracking.log_metrics(run_id, {"value": record["value"]})

    def log_run(run_id: str, target: Target, outputs: Outputs) -> None:
        calls.append("log")
        if not early:
            tracking.log_metrics(run_id, {"value": outputs.record["value"]})

    return Pipeline(kind="tiny", notebook=notebook, html_name="tiny.html", record_name="record.json",
                    published=("record.json", "tiny.ipynb", "tiny.html"),
                    validate=lambda workdir: Target(name="tiny", out_dir=out / "tiny", title="tiny report"),
                    start_run=start_run, parameters=lambda t, staging, run_id: {
                        "value": 7, "run_id": run_id, "output_dir": str(staging)},
                    log_record=log_record if early else None, log_run=log_run,
                    on_failure=lambda run_id, target, err: calls.append("failed"))


# The record is written as the pipeline's notebooks write theirs: atomically (evalkit._io), so the record logger
# never reads a half-written file. (A plain write_text here once let the logger read an empty file, fail on it,
# and leave a notebook waiting for a metric that never came.)
WRITE = ("import pathlib\nfrom evalkit._io import atomic_write_json\n"
         "atomic_write_json(pathlib.Path(output_dir, 'record.json'), {'value': value})\nprint('value is', value)")


def test_a_new_pipeline_runs_on_the_skeleton(mlflow_store, tmp_path):
    calls: list[str] = []
    target, out, run_id = run_pipeline(_pipeline(_notebook(tmp_path, WRITE), tmp_path / "reports", calls),
                                       RunOptions(progress=False), output_root=tmp_path / "reports")
    assert calls == ["start", "log"]
    assert out.record == {"value": 7} and json.loads((target.out_dir / "record.json").read_text()) == {"value": 7}
    assert out.html == target.out_dir / "tiny.html" and "value is 7" in out.html.read_text()
    assert not list((tmp_path / "reports").glob(".staging-*"))
    run = tracking.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["value"] == 7


def test_a_failing_notebook_fails_the_run_and_keeps_the_partial_notebook(mlflow_store, tmp_path):
    calls: list[str] = []
    pipeline = _pipeline(_notebook(tmp_path, "raise ValueError('broken on purpose')"), tmp_path / "reports", calls)
    with pytest.raises(ReportError, match=r"failed in cell .*ValueError: broken on purpose"):
        run_pipeline(pipeline, RunOptions(progress=False), output_root=tmp_path / "reports")
    assert calls == ["start", "failed"]
    assert (tmp_path / "reports" / "tiny" / "failed.ipynb").is_file()
    assert not (tmp_path / "reports" / "tiny" / "tiny.html").exists()
    assert not list((tmp_path / "reports").glob(".staging-*"))
    runs = tracking.client().search_runs([tracking.client().get_experiment_by_name("tiny").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


#: A later cell that waits until the run holds the record's value: it returns only if the record was logged
#: while the notebook ran (the bound only keeps a broken logger from hanging the suite); it then rewrites the
#: record.
AWAIT = """
import time
import mlflow
deadline = time.monotonic() + 600
while mlflow.MlflowClient().get_run(run_id).data.metrics.get("value") != value:
    assert time.monotonic() < deadline, "the record was not logged while the notebook ran"
    time.sleep(0.05)
"""
AWAIT_AND_REWRITE = AWAIT + "atomic_write_json(pathlib.Path(output_dir, 'record.json'), {'value': value + 1})\n"


def test_the_record_is_logged_while_the_notebook_runs_and_again_when_rewritten(mlflow_store, tmp_path):
    calls: list[str] = []
    notebook = _notebook(tmp_path, WRITE)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(new_code_cell(AWAIT_AND_REWRITE))
    nbformat.write(nb, notebook)
    target, out, run_id = run_pipeline(_pipeline(notebook, tmp_path / "reports", calls, early=True),
                                       RunOptions(progress=False), output_root=tmp_path / "reports")
    assert calls == ["start", "record 7", "record 8", "log"]
    assert out.record == {"value": 8}
    run = tracking.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["value"] == 8
    assert [m.value for m in tracking.client().get_metric_history(run_id, "value")] == [7, 8]


def test_a_record_logged_early_stays_on_a_run_that_then_fails(mlflow_store, tmp_path):
    calls: list[str] = []
    notebook = _notebook(tmp_path, WRITE)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(new_code_cell(AWAIT + "raise ValueError('late failure')"))
    nbformat.write(nb, notebook)
    with pytest.raises(ReportError, match="late failure"):
        run_pipeline(_pipeline(notebook, tmp_path / "reports", calls, early=True), RunOptions(progress=False),
                     output_root=tmp_path / "reports")
    assert calls == ["start", "record 7", "failed"]
    run, = tracking.client().search_runs([tracking.client().get_experiment_by_name("tiny").experiment_id])
    assert run.info.status == "FAILED" and run.data.metrics["value"] == 7
    assert not (tmp_path / "reports" / "tiny" / "record.json").exists()


def test_a_record_that_cannot_be_logged_is_said_when_the_run_fails_anyway(mlflow_store, tmp_path, capsys):
    """The logger's own error is not lost behind the notebook's: the run fails with the notebook's error and
    the command says why the record did not reach MLflow."""
    calls: list[str] = []
    marker = tmp_path / "tried"
    pipeline = _pipeline(_notebook(tmp_path, WRITE), tmp_path / "reports", calls, early=True)

    def refused(run_id, target, record):
        marker.touch()
        raise RuntimeError("the store refused it")

    nb = nbformat.read(pipeline.notebook, as_version=4)
    nb.cells.append(new_code_cell(  # waits until the logger has tried (the bound only stops a hang)
        f"import pathlib, time\ndeadline = time.monotonic() + 600\nwhile not pathlib.Path({str(marker)!r}).exists():\n"
        "    assert time.monotonic() < deadline, 'the logger never tried'\n    time.sleep(0.05)\n"
        "raise ValueError('late failure')"))
    nbformat.write(nb, pipeline.notebook)
    from dataclasses import replace

    with pytest.raises(ReportError, match="late failure"):
        run_pipeline(replace(pipeline, log_record=refused), RunOptions(progress=False),
                     output_root=tmp_path / "reports")
    err = capsys.readouterr().err
    assert err.count("the record was not logged to MLflow while the notebook ran: RuntimeError: the store "
                     "refused it") == 1


def test_a_record_that_cannot_be_logged_fails_a_run_that_would_have_finished(mlflow_store, tmp_path, capsys):
    """The logger's error is the run's error when the notebook succeeds: raised once, not also said."""
    calls: list[str] = []
    pipeline = _pipeline(_notebook(tmp_path, WRITE), tmp_path / "reports", calls, early=True)

    def refused(run_id, target, record):
        raise RuntimeError("the store refused it")

    from dataclasses import replace

    with pytest.raises(RuntimeError, match="the store refused it"):
        run_pipeline(replace(pipeline, log_record=refused), RunOptions(progress=False),
                     output_root=tmp_path / "reports")
    assert "the record was not logged" not in capsys.readouterr().err
    assert calls == ["start", "failed"]
