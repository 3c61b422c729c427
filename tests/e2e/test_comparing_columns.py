"""`make compare MODELS="column:score column:score_b" DATA=... ENGINE=stream`, end to end: two score columns of one
Parquet file compared out of core by a real notebook into the session's SQLite store, the HTML rendered, the run
reproduced identically after its data file is verified, and bad requests refused before any run starts."""

from __future__ import annotations

import json

import pytest

from evalkit import tracking
from evalkit.compare import COMPARE_EXPERIMENT
from evalkit.data import write_large_dataset
from tests.conftest import ROOT, evalkit_command

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_large_dataset(tmp_path_factory.mktemp("columns-data"), 40_000, challenger=True,
                               row_group_rows=10_000)


def _compare(*args, out):
    return evalkit_command("compare", *args, "--output-root", str(out), "--no-progress", cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def compared(shared_store, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("columns-out")
    proc = _compare("--models", "column:score", "column:score_b", "--data", str(data), "--engine", "stream",
                    "--chunk-rows", "10000", "--n-boot", "200", out=out)
    assert proc.returncode == 0, proc.stderr
    return out / "compare" / "score-vs-score_b", proc.stdout.strip().splitlines()[-1].removeprefix("mlflow run: ")


def test_score_columns_are_compared_out_of_core_into_a_finished_run(compared):
    folder, run_id = compared
    record = json.loads((folder / "comparison.json").read_text())
    assert record["n"] == 40_000 and record["scale"]["engine"] == "stream" and record["scale"]["chunks"] == 4
    assert record["scale"]["passes"] == 2 and [c["name"] for c in record["candidates"]] == ["score", "score_b"]
    r4 = next(d for d in record["deltas"] if (d["feature"], d["group"], d["metric"]) == ("region", "r4", "recall"))
    assert r4["significant"] and r4["better"]  # the challenger's known effect
    html = (folder / "comparison.html").read_text()
    assert "read out of core (stream, 2 passes of 4 chunks" in html and "data:image/png;base64" in html
    run = tracking.client().get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["evalkit.kind"] == "comparison"
    assert run.data.params["engine"] == "stream" and run.data.params["models"] == "column:score,column:score_b"
    assert run.data.tags["evalkit.compared_columns"] == "score,score_b"
    assert run.data.params["datasets"].startswith("large:")


def test_a_column_comparison_reproduces_identically(compared, tmp_path):
    from evalkit.reproduce import reproduce

    _, run_id = compared
    result = reproduce(run_id, output_root=tmp_path, progress=False)
    assert result.kind == "comparison" and result.verdict == "identical", result.differences[:5]
    assert result.settings["engine"] == "stream" and "data file" in result.verified[0]


def test_bad_requests_are_refused_before_any_run(shared_store, data, tmp_path):
    c = tracking.client()
    experiment = c.get_experiment_by_name(COMPARE_EXPERIMENT)
    before = len(c.search_runs([experiment.experiment_id])) if experiment else 0
    cases = [
        (["--models", "column:score", "adult-logreg", "--data", str(data), "--engine", "stream"],
         "model 'adult-logreg': the out-of-core comparison reads score columns of the data file"),
        (["--models", "column:score", "column:nope", "--data", str(data), "--engine", "stream"],
         "model 'column:nope': no such column in large.parquet; its columns are ['id', 'label'"),
        (["--models", "column:score", "column:score_b", "--data", str(data), "--engine", "stream", "--balance",
          "weights"], "balance='weights': the out-of-core comparison compares unweighted samples"),
        (["--models", "adult-logreg", "adult-hgb", "--engine", "stream"], "--engine applies only with --data"),
    ]
    for args, message in cases:
        proc = _compare(*args, out=tmp_path)
        assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    experiment = c.get_experiment_by_name(COMPARE_EXPERIMENT)
    assert (len(c.search_runs([experiment.experiment_id])) if experiment else 0) == before
    assert not (tmp_path / "compare").exists() or not list((tmp_path / "compare").iterdir())


def test_models_on_data_are_compared_in_memory_without_reports(shared_store, data, tmp_path):
    """Without ENGINE, DATA= evaluates the models in memory and pairs them sample by sample."""
    from evalkit.compare import run_compare
    from evalkit.settings import EvaluationSettings

    run = run_compare(["column:score", "column:score_b"], data=data, settings=EvaluationSettings(),
                      compare_settings={"n_boot": 50}, output_root=tmp_path, progress=False)
    assert run.record["n"] == 40_000 and "scale" not in run.record and run.record["same_data"]
    assert [c["rows"] for c in run.record["candidates"]] == [40_000, 40_000]
    assert tracking.client().get_run(run.run_id).data.params["engine"] == "vectorised"
