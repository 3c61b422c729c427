"""The evalkit evaluator, run through mlflow.models.evaluate on a registered demo model."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score, roc_auc_score

from evalkit import tracking
from evalkit.runner.mlflow_plugin import positive_scores

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def evaluated(shared_store, adult, tmp_path_factory):
    """``mlflow.models.evaluate`` of adult-logreg on 4,000 Adult test rows with evaluators=["evalkit"]."""
    import mlflow

    mlflow.set_tracking_uri(shared_store)  # both: another test module in this process may have set others
    mlflow.set_registry_uri(shared_store)
    test = adult[1]
    data = test.frame[[*test.features.columns, "income"]].head(4000).reset_index(drop=True)
    if "age_band" not in data.columns:
        data["age_band"] = test.frame["age_band"].head(4000).to_numpy()
    out = tmp_path_factory.mktemp("plugin")
    mlflow.set_experiment("plugin-test")
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(
            "models:/adult-logreg/1", data, targets="income", model_type="classifier", evaluators=["evalkit"],
            evaluator_config={"evalkit": {"sensitive_features": ["sex", "race", "age_band"], "positive_label": ">50K",
                                          "model_name": "adult-logreg", "n_boot": 200, "cost_repetitions": 0,
                                          "output_root": str(out)}})
    return result, run.info.run_id, data, out


def test_evaluate_logs_the_evalkit_report_on_the_run(evaluated, use_shared_store):
    import mlflow

    result, run_id, data, out = evaluated
    run = tracking.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["evalkit.kind"] == "report" and run.data.params["evalkit.model"] == "adult-logreg"
    assert run.data.params["evalkit.dataset_sha256"] == run.data.params["evalkit.dataset_sha256"].lower()
    artifacts = {a.path for a in tracking.client().list_artifacts(run_id)}
    assert {"report.html", "metrics.json", "scores.parquet", "evaluate_model.ipynb", "figures"} <= artifacts
    # the numbers are the model's, checked against scikit-learn on the same rows
    model = mlflow.pyfunc.load_model("models:/adult-logreg/1")
    score = positive_scores(model.predict(data.drop(columns=["income"])), len(data))
    y = (data["income"] == ">50K").to_numpy()
    assert result.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    female = (data["sex"] == "Female").to_numpy()
    assert result.metrics["by_group/sex/Female/recall"] == pytest.approx(
        recall_score(y[female], score[female] >= 0.5), abs=1e-12)
    assert "disparity/race/recall/difference" in result.metrics and "ci_low/roc_auc" in result.metrics
    assert result.metrics == pytest.approx({k: v for k, v in run.data.metrics.items() if math.isfinite(v)})
    html = result.artifacts["evalkit_report"].content
    assert "Good enough?" in html and html.rstrip().endswith("</html>")
    doc = result.artifacts["evalkit_metrics"].content
    assert doc["mlflow_run_id"] == run_id and doc["n"] == 4000 and set(doc["by_group"]) >= {"sex", "race", "age_band"}
    assert json.loads((out / "adult-logreg" / "metrics.json").read_text())["overall"]["roc_auc"] == doc["overall"]["roc_auc"]


def test_bad_evaluator_config_names_the_key(use_shared_store, adult):
    import mlflow

    data = adult[1].frame[[*adult[1].features.columns, "income"]].head(200)
    mlflow.set_tracking_uri(use_shared_store)
    mlflow.set_registry_uri(use_shared_store)
    mlflow.set_experiment("plugin-test")
    for config, message in [({}, "'sensitive_features' is required"),
                            ({"sensitive_features": ["gender"]}, r"column\(s\) \['gender'\] not in the evaluation data"),
                            ({"sensitive_features": ["sex"], "positive_label": "yes"}, "positive_label.*binary"),
                            ({"sensitive_features": ["sex"], "n_bot": 1}, r"unknown key\(s\) \['n_bot'\]")]:
        with pytest.raises(ValueError, match=message), mlflow.start_run() as run:
            mlflow.models.evaluate("models:/adult-logreg/1", data, targets="income", model_type="classifier",
                                   evaluators="evalkit", evaluator_config={"positive_label": ">50K", **config})
        assert tracking.get_run(run.info.run_id).info.status == "FAILED"  # closed by its owner, not left RUNNING


def test_positive_scores_shapes():
    assert positive_scores(np.array([[0.2, 0.8], [0.6, 0.4]]), 2).tolist() == [0.8, 0.4]
    assert positive_scores(pd.Series([0.1, 0.9]), 2).tolist() == [0.1, 0.9]
    assert positive_scores(pd.DataFrame({"p": [0.3, 0.7]}), 2).tolist() == [0.3, 0.7]
    with pytest.raises(ValueError, match=r"needs one score per row \(3\) or an \(3, 2\) matrix"):
        positive_scores(np.zeros((3, 4)), 3)
