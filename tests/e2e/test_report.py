"""End to end: the real notebook executed by papermill, rendered by nbconvert, logged to a real
SQLite MLflow store; and every bad input stopping cleanly (no report, no RUNNING run)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm

from evalkit import DataError, EvalkitError, ManifestError, ModelError, ReportError, load_dataset
from evalkit.models import resolve_model, score
from evalkit.runner import NOTEBOOK, check_parameters, run_report

from tests.conftest import ADULT_TEST, ROOT, evalkit_command

pytestmark = pytest.mark.e2e


def _runs(status: str | None = None):
    from evalkit import tracking

    c = tracking.client()
    exps = [e.experiment_id for e in c.search_experiments()]
    runs = c.search_runs(exps) if exps else []
    return [r for r in runs if status is None or r.info.status == status]


@pytest.fixture(scope="session")
def demo_report(shared_store, tmp_path_factory):
    """The default job: adult-logreg on adult_test, logged to the session store."""
    out = tmp_path_factory.mktemp("reports")
    return run_report("adult-logreg", ADULT_TEST, output_root=out, progress=False)


def test_report_files(demo_report):
    out = demo_report.output_dir
    assert out.name == "adult-logreg"
    assert (out / "report.html").stat().st_size > 100_000
    assert (out / "evaluate_model.ipynb").is_file()
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == sorted(f"figure-{n}.png" for n in (
        "roc", "det", "precision-recall", "group-bars", "reference-differences", "calibration", "score-histogram",
        "score-histogram-by-group"))
    html = (out / "report.html").read_text()
    assert "Good enough?" in html and "Fair enough?" in html
    assert "import evalkit" not in html  # no code cells
    assert "Traceback" not in html and "Warning" not in html
    assert 'alt="ROC curves, overall and for each group' in html  # figures are described
    assert "No description has been provided" not in html


def test_metrics_json_matches_sklearn_and_fairlearn(demo_report, use_shared_store, tmp_path):
    doc = json.loads((demo_report.output_dir / "metrics.json").read_text())
    assert doc["mlflow_run_id"] == demo_report.run_id
    assert doc["model"] == "adult-logreg" and doc["threshold"] == 0.5 and doc["n"] == 16281
    assert doc["datasets"] == [{"name": "adult_test", "source": "benchmark", "sha256": load_dataset(ADULT_TEST).manifest.sha256,
                                "manifest": "adult_test.yaml", "n": 16281}]
    ds = load_dataset(ADULT_TEST)
    s = score(resolve_model("adult-logreg", download_dir=tmp_path), ds)
    y = ds.y_true
    assert doc["overall"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)
    assert doc["overall"]["f1"] == pytest.approx(skm.f1_score(y, s >= 0.5), abs=1e-9)
    assert doc["overall"]["average_precision"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-9)
    mf = MetricFrame(metrics={"recall": skm.recall_score, "precision": skm.precision_score},
                     y_true=y, y_pred=s >= 0.5, sensitive_features=ds.sensitive[["sex", "race"]])
    for (sex, race), row in mf.by_group.iterrows():
        got = doc["by_group"]["sex&race"][f"{sex}&{race}"]
        for metric in ("recall", "precision"):
            expected = None if np.isnan(row[metric]) else pytest.approx(row[metric], abs=1e-9)
            assert got[metric] == expected, (sex, race, metric)
    assert doc["disparities"]["sex"]["selection_rate"]["worst_group"] == "Female"


def test_mlflow_run_has_params_metrics_artifacts(demo_report, use_shared_store):
    from evalkit import tracking

    c = tracking.client()
    run = c.get_run(demo_report.run_id)
    assert run.info.status == "FINISHED"
    p = run.data.params
    assert p["model"] == "adult-logreg" and p["model_version"] == "1" and p["dataset"] == "adult_test"
    assert p["dataset_sha256"] == load_dataset(ADULT_TEST).manifest.sha256
    assert p["threshold"] == "0.5" and "git_commit" in p and p["version_evalkit"]
    doc = demo_report.metrics
    m = run.data.metrics
    assert m["roc_auc"] == pytest.approx(doc["overall"]["roc_auc"])
    assert m["by_group/sex/Female/recall"] == pytest.approx(doc["by_group"]["sex"]["Female"]["recall"])
    assert m["disparity/race/fpr/difference"] == pytest.approx(doc["disparities"]["race"]["fpr"]["difference"])
    assert any(k.startswith("by_group/age_band/65_-") for k in m)  # '+' sanitised, still distinct
    names = {a.path for a in c.list_artifacts(demo_report.run_id)}
    assert {"report.html", "evaluate_model.ipynb", "metrics.json", "figures"} <= names
    assert len(c.list_artifacts(demo_report.run_id, "figures")) == 8


def test_notebook_runs_as_is_like_in_jupyterlab(use_shared_store, tmp_path):
    """No parameters injected, executed from notebooks/ like JupyterLab does: the defaults work."""
    import nbformat
    import papermill as pm

    out = tmp_path / "as_is.ipynb"
    pm.execute_notebook(str(ROOT / NOTEBOOK), str(out), cwd=str(ROOT / NOTEBOOK.parent), progress_bar=False,
                        kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    streams = [o["text"] for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert errors == [] and streams == []  # no warnings or prints either
    html = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("Evaluation of adult-logreg" in h for h in html)
    assert sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) == 8


def test_predictions_file_report_shows_injected_bias(synthetic_dataset, mlflow_store, tmp_path):
    manifest, preds = synthetic_dataset
    result = run_report(str(preds), manifest, output_root=tmp_path / "r", threshold=0.5, progress=False)
    doc = result.metrics
    assert doc["model"] == "synthetic_scores"
    assert doc["disparities"]["group"]["recall"]["worst_group"] == "B"
    assert _runs("FINISHED") and not _runs("RUNNING")


def test_report_with_threshold_rule_custom_metrics_and_intervals(synthetic_dataset, mlflow_store, tmp_path):
    """RULE=fpr=..., a metrics config and a reference group reach the report, metrics.json and MLflow."""
    from evalkit import tracking

    manifest, preds = synthetic_dataset
    config = tmp_path / "metrics.yaml"
    config.write_text("metrics:\n  - name: fraud_cost\n    cost: {fp: 5, fn: 100}\n    per_sample: true\n"
                      "  - name: balanced_accuracy\n    function: sklearn.metrics.balanced_accuracy_score\n")
    result = run_report(str(preds), manifest, output_root=tmp_path / "r", progress=False, threshold_rule="fpr=0.05",
                        metrics_config=config, n_boot=200, seed=3, reference={"group": "C"})
    doc = result.metrics
    ds = load_dataset(manifest)
    s = score(resolve_model(str(preds)), ds)
    y = ds.y_true
    assert doc["threshold_rule"] == "fpr=0.05" and "FPR" in doc["threshold_description"]
    fpr = np.mean(s[y == 0] >= doc["threshold"])
    assert fpr <= 0.05 and doc["overall"]["fpr"] == pytest.approx(fpr, abs=1e-12)
    assert doc["bootstrap"] == {"method": "poisson", "n_boot": 200, "level": 0.95, "seed": 3, "exact_bins": False}
    assert doc["interval_methods"]["by_metric"]["recall"] == "wilson"
    assert doc["interval_methods"]["by_metric"]["roc_auc"] == "delong-logit"
    assert doc["interval_methods"]["disparities"]["recall"] == "simultaneous-wilson"
    for name in ("roc_auc", "recall", "fraud_cost"):
        ci = doc["overall_ci"][name]
        assert ci["ci_low"] < ci["value"] < ci["ci_high"], name
    assert doc["by_group_ci"]["group"]["B"]["recall"]["ci_high"] < doc["by_group_ci"]["group"]["A"]["recall"]["ci_low"]
    assert set(doc["reference_disparities"]["group"]["recall"]) == {"A", "B"}  # compared with C
    assert doc["overall"]["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, s >= doc["threshold"]), abs=1e-12)
    assert doc["group_thresholds"]["group"]["B"]["threshold_for_target_fpr"] is not None
    run = tracking.get_run(result.run_id)
    assert run.data.metrics["fraud_cost"] == pytest.approx(doc["overall"]["fraud_cost"])
    assert run.data.metrics["ci_low/roc_auc"] == pytest.approx(doc["overall_ci"]["roc_auc"]["ci_low"])
    assert run.data.params["threshold_rule"] == "fpr=0.05"
    html = result.html.read_text()
    assert "chosen by rule &#x27;fpr=0.05&#x27;" in html or "chosen by rule 'fpr=0.05'" in html
    assert "fraud_cost" in html and "Benjamini-Hochberg" in html


def test_fairlearn_engine_gives_the_same_report_numbers(synthetic_dataset, mlflow_store, tmp_path):
    manifest, preds = synthetic_dataset
    # Intervals are beside the point (the engines share the bootstrap): n_boot=0.
    fast = run_report(str(preds), manifest, output_root=tmp_path / "a", track=False, progress=False, n_boot=0)
    ref = run_report(str(preds), manifest, output_root=tmp_path / "b", track=False, progress=False, engine="fairlearn",
                     n_boot=0)
    assert ref.metrics["engine"] == "fairlearn" and fast.metrics["engine"] == "vectorised"
    for feature, groups in fast.metrics["by_group"].items():
        for group, row in groups.items():
            for metric, value in row.items():
                other = ref.metrics["by_group"][feature][group][metric]
                assert (value is None and other is None) or value == pytest.approx(other, abs=1e-9), (feature, group, metric)
    for feature, per_metric in fast.metrics["disparities"].items():
        for metric, d in per_metric.items():
            o = ref.metrics["disparities"][feature][metric]
            assert d["worst_group"] == o["worst_group"]
            assert (d["difference"] is None and o["difference"] is None) or d["difference"] == pytest.approx(o["difference"], abs=1e-9)


def test_no_tracking_option(synthetic_dataset, mlflow_store, tmp_path):
    manifest, preds = synthetic_dataset
    result = run_report(str(preds), manifest, output_root=tmp_path / "r", track=False, progress=False)
    assert result.run_id is None and result.html.is_file()
    assert _runs() == []


# --- bad input: a clear error, nothing written, no run left RUNNING --------------------------------

def _bad_sha_manifest(tmp_path):
    text = ADULT_TEST.read_text().replace("../data/adult/", str(ROOT / "data" / "adult") + "/")
    text = text.replace(load_dataset(ADULT_TEST).manifest.sha256, "ab" * 32)
    path = tmp_path / "adult_bad_sha.yaml"
    path.write_text(text.replace(f"path: {ROOT}/data/adult/", "path: ").replace("path: adult_test", "path: data/adult_test"))
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "adult" / "adult_test.csv.gz", tmp_path / "data")
    return path


def _missing_column_manifest(tmp_path):
    text = ADULT_TEST.read_text().replace("sensitive_features: [sex, race, age_band]", "sensitive_features: [sex, religion]")
    path = tmp_path / "adult_religion.yaml"
    path.write_text(text.replace("../data/adult/", "data/"))
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "adult" / "adult_test.csv.gz", tmp_path / "data")
    return path


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("missing manifest", ManifestError, r"nope\.yaml: manifest file not found"),
        ("wrong sha256", DataError, r"adult_test\.csv\.gz: sha256 mismatch: the manifest adult_bad_sha\.yaml expects abab"),
        ("missing column", DataError, r"column 'religion': column missing .*available columns: \['row_id'"),
        ("unloadable model", ModelError, r"broken\.skops cannot be read as a skops file"),
        ("unknown model", ModelError, r"model 'adult-forest': .*no registered model named 'adult-forest'"),
        ("pickle model", ModelError, r"pickle/joblib files can run arbitrary code"),
    ],
)
def test_bad_input_stops_cleanly(case, error, message, mlflow_store, tmp_path):
    data, model = ADULT_TEST, str(tmp_path / "m.skops")
    (tmp_path / "m.skops").write_bytes(b"x")
    if case == "missing manifest":
        data = tmp_path / "nope.yaml"
    elif case == "wrong sha256":
        data = _bad_sha_manifest(tmp_path)
    elif case == "missing column":
        data = _missing_column_manifest(tmp_path)
    elif case == "unloadable model":
        (tmp_path / "broken.skops").write_bytes(b"not a zip file")
        model = str(tmp_path / "broken.skops")
    elif case == "unknown model":
        model = "adult-forest"
    elif case == "pickle model":
        (tmp_path / "m.joblib").write_bytes(b"x")
        model = str(tmp_path / "m.joblib")
    out = tmp_path / "reports"
    with pytest.raises(error, match=message):
        run_report(model, data, output_root=out, progress=False)
    assert not list(out.rglob("report.html")) if out.exists() else True
    assert _runs("RUNNING") == []


def test_notebook_failure_marks_run_failed_and_keeps_previous_report(synthetic_dataset, mlflow_store, tmp_path):
    manifest, preds = synthetic_dataset
    out = tmp_path / "reports"
    good = run_report(str(preds), manifest, output_root=out, progress=False)
    before = good.html.read_bytes()
    # A model of the same name fitted on an array of one feature: its file names no columns, so only the kernel,
    # which loads the model (skops' trusted-types check is done once, there), sees that it cannot score the data.
    # (A predictions file's problems, and a model whose file names columns the data lack, are refused before any
    # run: tests/faults/test_bad_input.py.)
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    model = tmp_path / "synthetic_scores.skops"
    sio.dump(LogisticRegression().fit(np.array([[1.0], [2.0], [3.0], [4.0]]), [0, 0, 1, 1]), model)
    with pytest.raises(ReportError, match=r"failed in cell \d+: ModelError: model '.*synthetic_scores\.skops': scoring "
                                          r"dataset 'synthetic' failed: ValueError") as info:
        run_report(str(model), manifest, output_root=out, progress=False)
    assert good.html.read_bytes() == before  # the previous report is intact
    failed = out / "synthetic_scores" / "failed.ipynb"
    assert info.value.notebook == failed and failed.is_file()
    runs = _runs("FAILED")
    assert len(runs) == 1 and _runs("RUNNING") == []
    from evalkit import tracking

    assert "failed.ipynb" in {a.path for a in tracking.client().list_artifacts(runs[0].info.run_id)}
    assert "scoring dataset 'synthetic' failed: ValueError" in runs[0].data.tags["evalkit.error"]


def test_untrusted_model_fails_in_kernel_with_clear_message(mlflow_store, tmp_path):
    import os as _os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    sio.dump(FunctionTransformer(func=_os.getcwd), path)
    with pytest.raises(ReportError, match=r"ModelError: model '.*evil\.skops': .*contains types evalkit does not trust: \[.*getcwd"):
        run_report(str(path), ADULT_TEST, output_root=tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "evil" / "report.html").exists()
    assert (tmp_path / "r" / "evil" / "failed.ipynb").is_file()
    assert len(_runs("FAILED")) == 1 and _runs("RUNNING") == []


def test_unknown_notebook_parameter_refused_before_kernel():
    with pytest.raises(ReportError, match=r"unknown parameter\(s\) \['colour'\]; its parameters cell declares \['data', 'model', "
                                         r"'output_dir', 'run_id', 'settings'\]"):
        check_parameters(ROOT / NOTEBOOK, {"model": "x", "colour": "red"})


def test_cli_error_exit_code_and_message(mlflow_store, tmp_path):
    res = evalkit_command("report", "--model", str(tmp_path / "none.skops"), "--no-progress", cwd=tmp_path)
    assert res.returncode == 1
    assert "evalkit: error: model '" in res.stderr and "none.skops': file not found" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_rejects_bad_threshold(tmp_path):
    res = evalkit_command("report", "--model", "x", "--threshold", "nan", cwd=tmp_path)
    assert res.returncode == 2
    assert "argument --threshold: expected a finite number, got 'nan'" in res.stderr


def test_evalkit_errors_share_a_base():
    for cls in (DataError, ManifestError, ModelError, ReportError):
        assert issubclass(cls, EvalkitError)


def test_suite_report_with_balancing_shows_sources_and_composition(use_shared_store, tmp_path):
    suite = ROOT / "data_manifests" / "adult_suite.yaml"
    result = run_report("adult-logreg", suite, output_root=tmp_path / "r", progress=False, n_boot=100,
                        balance="downsample", balance_by="sex")
    doc = result.metrics
    assert doc["suite"] == "adult_suite" and [d["source"] for d in doc["datasets"]] == [
        "benchmark", "production", "corner_case"]
    assert doc["balance"]["method"] == "downsample" and doc["balance"]["rows_before"] == 19909
    sex = doc["composition"]["sex"]
    assert sex["Female"]["n"] == sex["Male"]["n"] == doc["balance"]["rows_after"] // 2
    assert doc["composition_before"]["sex"]["Male"]["n"] > doc["composition_before"]["sex"]["Female"]["n"]
    assert set(doc["by_group"]["source"]) == {"benchmark", "production", "corner_case"}
    html = result.html.read_text()
    assert "By source" in html and "What the evaluation data are made of" in html and "Before balancing" in html


def test_generated_corner_cases_with_injected_bias_are_caught(mlflow_store, tmp_path, monkeypatch):
    """Ground truth: a generated set with group B's positives scored lower must show B as worst off in
    recall, with the difference to the reference group surviving the multiple-comparison correction."""
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(tmp_path))
    res = evalkit_command("data", "generate", "--name", "biased", "--rows", "3000", "--score-bias", "B=-1.5",
                          "--tiny", "D=6", "--seed", "3", "--data-dir", str(tmp_path / "d"),
                          "--manifest-dir", str(tmp_path / "m"), cwd=ROOT)
    assert res.returncode == 0, res.stderr
    result = run_report(str(tmp_path / "d" / "biased_scores.csv"), tmp_path / "m" / "biased.yaml",
                        output_root=tmp_path / "r", progress=False, track=False, n_boot=300)
    doc = result.metrics
    assert doc["disparities"]["group"]["recall"]["worst_group"] == "B"
    surviving = {(s["feature"], s["metric"], s["group"]) for s in doc["multiple_comparisons"]["surviving"]}
    assert ("group", "recall", "B") in surviving
    assert ("group", "recall", "C") not in surviving  # no bias injected there
    assert {"feature": "group", "group": "D", "n": 6} in doc["small_groups"]
