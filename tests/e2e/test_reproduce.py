"""make reproduce end to end (evalkit/reproduce/): a report, a gate decision and (in test_comparing.py and
test_verify.py) a comparison and a verification replayed from their MLflow record into a real store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from evalkit import DataError, ReproduceError, tracking
from evalkit._io import sha256_file
from evalkit.cli import main
from evalkit.reproduce import REPRODUCES_TAG, REPRODUCTION_TAG, reproduce
from evalkit.runner import run_report
from tests.conftest import write_small_case

pytestmark = pytest.mark.e2e


@pytest.fixture
def reported(tmp_path, mlflow_store):
    """A finished report run of a predictions file on a small synthetic dataset."""
    write_small_case(tmp_path)
    run = run_report(str(tmp_path / "scores.csv"), tmp_path / "d.yaml", output_root=tmp_path / "reports",
                     progress=False, n_boot=50, cost_repetitions=0)
    return tmp_path, run, mlflow_store


def _set_param(uri: str, run_id: str, key: str, value: str) -> None:
    """Edit a recorded parameter in the SQLite store by hand (MLflow itself never overwrites one)."""
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as db:
        assert db.execute("UPDATE params SET value = ? WHERE run_uuid = ? AND key = ?",
                          (value, run_id, key)).rowcount == 1


def test_an_unchanged_report_reproduces_identically(reported, capsys):
    folder, run, uri = reported
    # An older evalkit did not record slice_terms: it is read back from the executed notebook.
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as db:
        db.execute("DELETE FROM params WHERE run_uuid = ? AND key = 'slice_terms'", (run.run_id,))
    code = main(["reproduce", "--run", run.run_id, "--output-root", str(folder / "again"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"reproduction of report run {run.run_id}: IDENTICAL" in out and "equality: exact" in out
    assert "verified: data file" in out and "d.csv" in out and "verified: model file" in out
    record = json.loads((folder / "again" / "reproduction.json").read_text())
    assert record["verdict"] == "identical" and record["differences"] == []
    assert {"created", "mlflow_run_id"} <= set(record["expected_differences"])
    new = tracking.get_run(record["new_run_id"])
    assert new.info.status == "FINISHED" and new.data.tags[REPRODUCES_TAG] == run.run_id
    assert new.data.tags[REPRODUCTION_TAG] == "identical"
    assert "reproduction.json" in {a.path for a in tracking.client().list_artifacts(new.info.run_id)}
    mine = json.loads((folder / "again" / "scores" / "metrics.json").read_text())
    assert mine["overall_ci"] == run.metrics["overall_ci"] and mine["by_group"] == run.metrics["by_group"]


def test_a_changed_data_byte_is_refused_naming_the_file(reported, capsys):
    folder, run, _ = reported
    data = folder / "d.csv"
    raw = bytearray(data.read_bytes())
    raw[-3] = ord("1") if raw[-3] != ord("1") else ord("2")
    data.write_bytes(bytes(raw))
    text = (folder / "d.yaml").read_text()  # the manifest updated too: only the run's record tells
    (folder / "d.yaml").write_text("\n".join(f"sha256: {sha256_file(data)}" if t.startswith("sha256:") else t
                                             for t in text.splitlines()) + "\n")
    runs_before = len(tracking.client().search_runs([tracking.experiment_id()]))
    with pytest.raises(DataError, match=rf"{data}: sha256 [0-9a-f]{{12}}… differs from the [0-9a-f]{{12}}… that run "
                                        rf"{run.run_id} recorded: the data file changed since the run"):
        reproduce(run.run_id, output_root=folder / "again", progress=False)
    assert main(["reproduce", "--run", run.run_id, "--output-root", str(folder / "again"), "--no-progress"]) == 1
    assert "d.csv: sha256" in capsys.readouterr().err
    assert len(tracking.client().search_runs([tracking.experiment_id()])) == runs_before  # no replay started
    assert not (folder / "again").exists()


def test_a_different_recorded_n_boot_makes_the_intervals_differ(reported, capsys):
    folder, run, uri = reported
    _set_param(uri, run.run_id, "n_boot", "80")
    code = main(["reproduce", "--run", run.run_id, "--output-root", str(folder / "again"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 4, out
    assert "DIFFERENT" in out and "warning: setting n_boot: the run records 80, its notebook ran with 50" in out
    record = json.loads((folder / "again" / "reproduction.json").read_text())
    paths = {d["path"]: d for d in record["differences"]}
    assert paths["bootstrap.n_boot"]["old"] == 50 and paths["bootstrap.n_boot"]["new"] == 80
    assert any(p.startswith("overall_ci.roc_auc") for p in paths) or any(p.startswith("overall_ci.f1") for p in paths)
    assert all(d["about"] == "intervals" for d in record["differences"]), [d["path"] for d in record["differences"]
                                                                           if d["about"] != "intervals"]
    assert all("the run records n_boot=80 but its notebook ran with n_boot=50" in d["reason"]
               for d in record["differences"])
    assert tracking.get_run(record["new_run_id"]).data.tags[REPRODUCTION_TAG] == "different"


def test_runs_that_cannot_be_reproduced_are_refused(reported):
    folder, run, _ = reported
    with pytest.raises(ReproduceError, match="run nope: not found at sqlite"):
        reproduce("nope", progress=False)
    other = tracking.start_run(experiment="evalkit", run_name="x", params={}, tags={"evalkit.kind": "report"})
    with pytest.raises(ReproduceError, match=f"run {other}: status RUNNING; only a FINISHED run"):
        reproduce(other, progress=False)
    tracking.end_run(other, "FAILED")
    plain = tracking.start_run(experiment="evalkit", run_name="y", params={}, tags={})
    tracking.end_run(plain)
    with pytest.raises(ReproduceError, match="not an evalkit report, verification, gate or comparison run"):
        reproduce(plain, progress=False)
    # A record of another schema_version cannot be compared value by value: refused, with the commit to use.
    artifact = Path(tracking.get_run(run.run_id).info.artifact_uri.removeprefix("file://")) / "metrics.json"
    artifact.write_text(artifact.read_text().replace('"schema_version": 2', '"schema_version": 1', 1))
    with pytest.raises(ReproduceError, match=r"metrics.json has schema_version 1; this evalkit writes 2: the records "
                                             r"cannot be compared value by value \(reproduce it with the evalkit "
                                             r"version of the run, git commit [0-9a-f]{12}"):
        reproduce(run.run_id, progress=False)


def test_an_out_of_core_report_reproduces_identically(tmp_path, mlflow_store):
    """The stream engine reads the data in chunks; its replay gives the same record (scores from a column)."""
    from evalkit.data import make_biased_scores
    from tests.conftest import SMALL_MANIFEST

    make_biased_scores(3000, seed=5).drop(columns=["y"]).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.yaml").write_text(SMALL_MANIFEST.format(sha=sha256_file(tmp_path / "d.csv")))
    run = run_report("column:score", tmp_path / "d.yaml", output_root=tmp_path / "reports", progress=False,
                     n_boot=50, engine="stream", chunk_rows=1000)
    result = reproduce(run.run_id, output_root=tmp_path / "again", progress=False)
    assert result.verdict == "identical", result.differences[:5]
    assert result.settings["engine"] == "stream" and result.settings["scheduler"] is None
    assert result.warnings == [w for w in result.warnings if w.startswith("git commit")]  # no setting drift
    # timings may or may not differ (seconds are rounded to the millisecond): only these may be listed
    assert {"created", "mlflow_run_id"} <= set(result.expected_differences) <= {
        "created", "mlflow_run_id", "engine_details.seconds", "engine_details.rows_per_second"}
