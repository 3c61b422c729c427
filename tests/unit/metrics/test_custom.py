"""Custom metrics from a configuration file: validation, values per group, and their place in the output."""

import numpy as np
import pytest
from sklearn import metrics as skm

from evalkit import evaluate
from evalkit.metrics import load_metrics_config
from evalkit.exceptions import ConfigError

from tests.conftest import ROOT


def _write(tmp_path, text):
    path = tmp_path / "metrics.yaml"
    path.write_text(text)
    return path


def test_shipped_example_loads():
    config = load_metrics_config(ROOT / "configs" / "metrics.yaml")
    assert config.names == ["review_cost", "balanced_accuracy", "brier"]
    assert (config.cost_fp, config.cost_fn) == (1.0, 5.0)
    assert config.lower_is_better == {"review_cost", "brier"}


@pytest.mark.parametrize("text, key, message", [
    ("metricz: []\n", "metricz", "unknown key"),
    ("metrics:\n  - name: f1\n    cost: {fp: 1, fn: 2}\n", "metrics[0].name", "'f1' is a built-in metric"),
    ("metrics:\n  - name: c\n    cost: {fp: 1, fn: 2}\n  - name: c\n    cost: {fp: 1, fn: 2}\n",
     "metrics[1].name", "defined twice"),
    ("metrics:\n  - name: c\n    cost: {fp: -1, fn: 2}\n", "metrics[0].cost.fp", "non-negative number"),
    ("metrics:\n  - name: c\n    cost: {fp: 1}\n", "metrics[0].cost.fn", r"missing required key\(s\) \['fn'\]"),
    ("metrics:\n  - name: c\n    function: nosuchmodule.f\n", "metrics[0].function", "cannot import"),
    ("metrics:\n  - name: c\n    function: os.sep\n", "metrics[0].function", "is not callable"),
    ("metrics:\n  - name: c\n    function: sklearn.metrics.f1_score\n    input: proba\n", "metrics[0].input",
     r"one of \['pred', 'score'\]"),
    ("metrics:\n  - name: c\n    cost: {fp: 1, fn: 1}\n    function: sklearn.metrics.f1_score\n", "metrics[0]",
     "exactly one of"),
    ("metrics:\n  - name: c\n    cost: {fp: 1, fn: 1}\n    input: pred\n", "metrics[0].input", "unknown key"),
    ("metrics:\n  - name: 2bad\n    cost: {fp: 1, fn: 1}\n", "metrics[0].name", "expected a name"),
    ("costs: {fp: 1, fn: 1}\ncosts: {fp: 2, fn: 1}\n", None, "duplicate key 'costs'"),
])
def test_bad_configurations_name_file_and_key(tmp_path, text, key, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_metrics_config(path)
    assert str(path) in str(err.value)
    if key:
        assert f"key '{key}'" in str(err.value)


def test_custom_metrics_equal_sklearn_per_group(synthetic_dataset, tmp_path):
    manifest, preds = synthetic_dataset
    path = _write(tmp_path, """
metrics:
  - name: fraud_cost
    cost: {fp: 5, fn: 100}
  - name: cost_rate
    cost: {fp: 5, fn: 100}
    per_sample: true
  - name: balanced_accuracy
    function: sklearn.metrics.balanced_accuracy_score
  - name: brier
    function: sklearn.metrics.brier_score_loss
    input: score
    greater_is_better: false
""")
    ev = evaluate(str(preds), manifest, metrics_config=path, n_boot=50)
    y, s = ev.y_true, ev.y_score
    for group in ("A", "B", "C"):
        m = ev.group_values("group") == group
        row = ev.by_group.loc[("group", group)]
        tn, fp, fn, tp = skm.confusion_matrix(y[m], s[m] >= 0.5).ravel()
        assert row["fraud_cost"] == 5 * fp + 100 * fn
        assert row["cost_rate"] == pytest.approx((5 * fp + 100 * fn) / m.sum(), abs=1e-12)
        assert row["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y[m], s[m] >= 0.5), abs=1e-12)
        assert row["brier"] == pytest.approx(skm.brier_score_loss(y[m], s[m]), abs=1e-12)
    assert ev.overall["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, s >= 0.5), abs=1e-12)
    doc = ev.to_dict()
    assert doc["by_group"]["group&band"]["B&old"]["cost_rate"] is not None
    ci = doc["overall_ci"]["cost_rate"]
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"] and ci["ci_low"] < ci["ci_high"]  # cost metrics get CIs
    assert doc["overall_ci"]["brier"]["ci_low"] is None  # function metrics: no interval, said so
    assert ("group", "cost_rate") in ev.disparities.index and ("group", "fraud_cost") not in ev.disparities.index
    assert ev.disparities.loc[("group", "brier"), "worst_group"] == ev.by_group.loc["group", "brier"].idxmax()
    assert {c["name"] for c in doc["custom_metrics"]} == {"fraud_cost", "cost_rate", "balanced_accuracy", "brier"}


def test_cost_rule_uses_configured_costs(synthetic_dataset, tmp_path):
    manifest, preds = synthetic_dataset
    path = _write(tmp_path, "costs: {fp: 1, fn: 20}\n")
    ev = evaluate(str(preds), manifest, metrics_config=path, threshold_rule="cost", n_boot=0)
    assert "20·FN" in ev.operating_point.description
    cheap_fn = evaluate(str(preds), manifest, threshold_rule="cost", cost_fp=20, cost_fn=1, n_boot=0)
    assert ev.threshold < cheap_fn.threshold  # expensive misses: accept more


def test_uncallable_signature_is_a_clear_error(synthetic_dataset, tmp_path):
    manifest, preds = synthetic_dataset
    path = _write(tmp_path, "metrics:\n  - name: bad\n    function: math.hypot\n    kwargs: {nope: 1}\n")
    with pytest.raises(ValueError, match="cannot be called as f\\(y_true, y, \\*\\*kwargs\\)"):
        evaluate(str(preds), manifest, metrics_config=path, n_boot=0)
    assert np is not None
