"""Multiclass metrics against scikit-learn, and per group against fairlearn's MetricFrame."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm

from evalkit.metrics import group_confusion_matrices, multiclass_by_group, multiclass_metrics

LABELS = ["cat", "dog", "eel", "fox"]


def _data(n=3000, seed=0, absent=None):
    rng = np.random.default_rng(seed)
    y = rng.choice(LABELS, n, p=[0.4, 0.3, 0.2, 0.1])
    if absent:
        y[y == absent] = "cat"
    raw = rng.random((n, 4)) + 0.8 * np.eye(4)[[LABELS.index(v) for v in y]]
    return y, raw / raw.sum(1, keepdims=True), pd.Series(rng.choice(["A", "B", "C"], n))


def _reference(y, s):
    pred = np.array(LABELS)[s.argmax(1)]
    p, r, f, sup = skm.precision_recall_fscore_support(y, pred, labels=LABELS, zero_division=np.nan)
    out = {"accuracy": skm.accuracy_score(y, pred), "f1_micro": skm.f1_score(y, pred, average="micro")}
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        out[f"{name}_macro"] = fn(y, pred, average="macro", labels=LABELS, zero_division=np.nan)
    for j, c in enumerate(LABELS):
        out.update({f"precision[{c}]": p[j], f"recall[{c}]": r[j], f"f1[{c}]": f[j], f"support[{c}]": sup[j]})
        out[f"roc_auc_ovr[{c}]"] = skm.roc_auc_score(y == c, s[:, j]) if 0 < (y == c).sum() < len(y) else np.nan
    out["roc_auc_macro"] = (skm.roc_auc_score(y, s, multi_class="ovr", labels=LABELS)
                            if len(set(y)) == 4 else np.nan)
    return out


@pytest.mark.parametrize("absent", [None, "fox"])
def test_overall_equals_sklearn(absent):
    y, s, _ = _data(absent=absent)
    ours = multiclass_metrics(y, s, labels=LABELS)
    for name, value in _reference(y, s).items():
        assert ours[name] == pytest.approx(value, abs=1e-12, nan_ok=True), name
    pred = np.array(LABELS)[s.argmax(1)]
    np.testing.assert_array_equal(ours["confusion_matrix"], skm.confusion_matrix(y, pred, labels=LABELS))


def test_per_group_equals_metricframe():
    y, s, g = _data(2000, seed=3)
    ours = multiclass_by_group(y, s, g, labels=LABELS)
    names = list(_reference(y[:50], s[:50]))
    frame = MetricFrame(metrics={k: (lambda yy, ss, k=k: _reference(yy, ss)[k]) for k in names},
                        y_true=y, y_pred=s, sensitive_features=g)
    for name in names:
        np.testing.assert_allclose(ours[name].to_numpy(float), frame.by_group[name].to_numpy(float), atol=1e-12,
                                   equal_nan=True, err_msg=name)


def test_group_confusion_matrices_add_up():
    y, s, g = _data(1000, seed=4)
    mats = group_confusion_matrices(y, s, g, labels=LABELS)
    total = sum(m.to_numpy() for m in mats.values())
    pred = np.array(LABELS)[s.argmax(1)]
    np.testing.assert_array_equal(total, skm.confusion_matrix(y, pred, labels=LABELS))
    assert list(mats["A"].index) == LABELS


def test_weighted_equals_sklearn():
    y, s, _ = _data(800, seed=5)
    w = np.random.default_rng(1).uniform(0.2, 3, y.size)
    ours = multiclass_metrics(y, s, labels=LABELS, sample_weight=w)
    pred = np.array(LABELS)[s.argmax(1)]
    assert ours["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", sample_weight=w), abs=1e-12)
    assert ours["roc_auc_ovr[dog]"] == pytest.approx(skm.roc_auc_score(y == "dog", s[:, 1], sample_weight=w))


@pytest.mark.parametrize("kwargs, message", [
    (dict(y_score=np.ones((3, 2))), "y_score has 2 columns but there are 3 labels"),
    (dict(y_score=np.ones(3)), r"y_score must have shape \(n_samples, n_classes\)"),
    (dict(labels=["a", "b", "x"]), r"y_true has labels \['c'\] that are not in labels"),
])
def test_bad_input(kwargs, message):
    args = dict(y_true=["a", "b", "c"], y_score=np.eye(3), labels=None) | kwargs
    with pytest.raises(ValueError, match=message):
        multiclass_metrics(args["y_true"], args["y_score"], labels=args["labels"])
