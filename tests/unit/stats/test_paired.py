"""Paired bootstrap helpers (evalkit/stats/_paired.py), checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from evalkit.stats import percentile_interval
from evalkit.stats import (
    COUNT_METRICS,
    confusion_counts,
    count_metric,
    group_matrix,
    metric_by_columns,
    paired_difference,
    poisson_weights,
    weighted_auc,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    y = rng.random(3000) < 0.3
    score = np.round(np.clip(rng.normal(np.where(y, 0.65, 0.4), 0.2), 0, 1), 2)  # many ties
    return y.astype(int), score


def test_weighted_auc_equals_sklearn_with_ties_and_weights(data):
    y, s = data
    assert float(weighted_auc(y, s)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    w = poisson_weights(len(y), 5, seed=1)
    got = weighted_auc(y, s, w)
    for b in range(5):
        assert got[b] == pytest.approx(roc_auc_score(y, s, sample_weight=w[b]), abs=1e-9)


def test_weighted_auc_undefined_without_both_classes():
    assert np.isnan(weighted_auc(np.ones(4, int), np.array([0.1, 0.2, 0.3, 0.4])))


@pytest.mark.parametrize("metric, reference", [
    ("accuracy", accuracy_score), ("recall", recall_score), ("precision", precision_score), ("f1", f1_score),
    ("fpr", lambda y, p, sample_weight=None: 1 - recall_score(1 - y, 1 - p, sample_weight=sample_weight)),
    ("fnr", lambda y, p, sample_weight=None: 1 - recall_score(y, p, sample_weight=sample_weight)),
    ("selection_rate", lambda y, p, sample_weight=None: np.average(p, weights=sample_weight)),
])
def test_count_metrics_equal_sklearn_per_group_and_weighted(data, metric, reference):
    y, s = data
    pred = (s >= 0.5).astype(int)
    group = np.where(np.arange(len(y)) % 3 == 0, "a", "b")
    matrix, index = group_matrix({"g": group}, len(y))
    assert list(index) == [("overall", "all"), ("g", "a"), ("g", "b")]
    point = metric_by_columns(metric, y, s, 0.5, matrix)
    assert point[0] == pytest.approx(reference(y, pred), abs=1e-12)
    for k, name in enumerate(["a", "b"], start=1):
        m = group == name
        assert point[k] == pytest.approx(reference(y[m], pred[m]), abs=1e-12)
    w = poisson_weights(len(y), 3, seed=2)
    reps = metric_by_columns(metric, y, s, 0.5, matrix, w)
    assert reps.shape == (3, 3)
    assert reps[1, 0] == pytest.approx(reference(y, pred, sample_weight=w[1]), abs=1e-9)


def test_count_metric_hand_computed_and_undefined():
    tp, fp, tn, fn = (np.array(v, dtype=float) for v in ([3, 0], [1, 0], [5, 4], [1, 0]))
    assert count_metric("recall", tp, fp, tn, fn).tolist()[0] == 0.75
    assert np.isnan(count_metric("recall", tp, fp, tn, fn)[1])  # no positives
    assert set(COUNT_METRICS) == {"accuracy", "recall", "fpr", "fnr", "precision", "f1", "selection_rate"}


def test_confusion_counts_sum_to_group_sizes(data):
    y, s = data
    matrix, _ = group_matrix({"g": np.where(s > 0.5, "hi", "lo")}, len(y))
    c = confusion_counts(y, s >= 0.5, matrix)
    assert (c["tp"] + c["fp"] + c["tn"] + c["fn"]).tolist() == matrix.sum(axis=0).tolist()


def test_identical_models_differ_by_exactly_zero(data):
    y, s = data
    for metric in ("roc_auc", "accuracy", "recall"):
        d = paired_difference(y, s, s.copy(), metric, n_boot=200)
        assert (d["difference"], d["ci_low"], d["ci_high"]) == (0.0, 0.0, 0.0)


def test_a_better_model_is_detected_and_sign_follows_lower_is_better(data):
    y, s = data
    better = np.clip(s + np.where(y == 1, 0.15, -0.15), 0, 1)
    d = paired_difference(y, better, s, "roc_auc", n_boot=300, seed=1)
    assert d["difference"] == pytest.approx(roc_auc_score(y, better) - roc_auc_score(y, s), abs=1e-12)
    assert d["ci_low"] > 0
    f = paired_difference(y, better, s, "fpr", n_boot=300, seed=1, lower_is_better=True)
    assert f["difference"] > 0 and f["ci_low"] > 0  # fewer false positives counts as better


def test_percentile_ci_needs_half_the_replicates():
    reps = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, 1.0], [4.0, np.nan]])
    low, high = percentile_interval(reps, 0.5)
    assert low[0] == pytest.approx(1.75) and high[0] == pytest.approx(3.25)
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_paired_difference_rejects_unknown_metric(data):
    y, s = data
    with pytest.raises(ValueError, match="metric must be one of"):
        paired_difference(y, s, s, "eer")


def test_weight_blocks_are_the_same_draws_with_bounded_memory(data):
    from evalkit.stats import replicates, weight_blocks

    y, s = data
    whole = poisson_weights(len(y), 37, seed=5)
    blocks = list(weight_blocks(len(y), 37, seed=5, max_bytes=4 * len(y) * 10))  # 10 replicates a block
    assert [len(b) for b in blocks] == [10, 10, 10, 7]
    np.testing.assert_array_equal(np.vstack(blocks), whole)
    auc = replicates(lambda w: weighted_auc(y, s, w), len(y), 37, 5)
    np.testing.assert_allclose(auc, weighted_auc(y, s, whole), rtol=0, atol=1e-12)


def test_paired_auc_interval_is_delongs(data):
    """The gate's ROC AUC difference: DeLong's interval, to the last digit, and sklearn's AUCs."""
    from evalkit.stats import delong

    y, s = data
    other = np.clip(s + np.random.default_rng(3).normal(0, 0.1, s.size), 0, 1)
    d = paired_difference(y, s, other, "roc_auc", n_boot=0)
    ref = delong(y, s, other)
    assert d["method"] == "DeLong" and d["a"] == roc_auc_score(y, s) and d["b"] == roc_auc_score(y, other)
    assert (d["difference"], d["ci_low"], d["ci_high"]) == (ref["difference"], ref["ci_low"], ref["ci_high"])


@pytest.mark.parametrize("metric", ["recall", "fpr", "precision", "accuracy", "f1"])
def test_joint_cell_bootstrap_matches_the_per_sample_paired_bootstrap(data, metric):
    """The same point estimates as the per-sample path to the last digit, and an interval that agrees with the
    per-sample paired bootstrap (the same distribution, other draws) to within Monte Carlo error."""
    from evalkit.stats import percentile_interval
    from evalkit.stats._paired import _metric_values, replicates

    y, s = data
    other = np.clip(s + np.random.default_rng(3).normal(0, 0.15, s.size), 0, 1)
    yb = y.astype(bool)
    d = paired_difference(y, s, other, metric, threshold_a=0.5, n_boot=4000, seed=2)
    assert d["method"] == "paired Poisson bootstrap of joint cells"
    assert d["a"] == float(_metric_values(metric, yb, s, 0.5, None))
    assert d["b"] == float(_metric_values(metric, yb, other, 0.5, None))
    reps = replicates(lambda w: _metric_values(metric, yb, s, 0.5, w) - _metric_values(metric, yb, other, 0.5, w),
                      y.size, 4000, 2)
    low, high = percentile_interval(reps, 0.95)
    width = high - low
    assert abs(d["ci_low"] - low) < 0.1 * width and abs(d["ci_high"] - high) < 0.1 * width, (d, low, high)


def test_joint_cells_count_every_sample_once():
    from evalkit.stats import joint_cells

    y = np.array([1, 1, 0, 0, 1, 0])
    a = np.array([True, False, True, False, True, False])
    b = np.array([True, True, False, False, False, False])
    assert joint_cells(y, a, b).tolist() == [2, 0, 1, 0, 0, 1, 1, 1]  # index 4 y + 2 a + b


def test_group_codes_follow_group_matrix_and_joint_cells_count_every_sample():
    """The codes' columns are group_matrix's, missing values in no group, and the cells' membership times their
    counts gives group_matrix's column sums; the draws have the cells' counts as means."""
    from evalkit.stats import JointCells, group_codes, group_matrix

    rng = np.random.default_rng(0)
    groupings = {"sex": pd.Series(rng.choice(["m", "f", None], 500), dtype=object),
                 "band": pd.Categorical(rng.choice(["b", "10", "2"], 500))}
    matrix, index = group_matrix(groupings, 500)
    codes, index2 = group_codes(groupings)
    assert list(index2) == list(index)
    y = rng.random(500) < 0.3
    cells = JointCells({**{f"g:{f}": c for f, c in codes.items()}, "y": y})
    member = cells.member({f: f"g:{f}" for f in codes}, index2)
    assert (cells.counts @ member).tolist() == matrix.sum(axis=0, dtype=np.float64).tolist()
    assert ((cells.counts * cells.of_cell["y"]) @ member).tolist() == (y.astype(float) @ matrix).tolist()
    draws = cells.draws(4000, [1, 2])
    assert draws.shape == (4000, cells.counts.size)
    assert np.allclose(draws.mean(axis=0), cells.counts, atol=5 * np.sqrt(cells.counts / 4000) + 1e-12)
    assert np.array_equal(draws, cells.draws(4000, [1, 2]))
