"""Threshold rules, checked by brute force over every candidate threshold with scikit-learn."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from evalkit.metrics import (
    choose_threshold,
    cost_threshold,
    group_thresholds,
    threshold_for_fpr,
    threshold_for_recall,
)
from evalkit.settings import parse_rule


def _data(n=800, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), 2)  # ties
    return y, s


def _rates(y, s, t):
    tn, fp, fn, tp = skm.confusion_matrix(y, s >= t, labels=[0, 1]).ravel()
    return fp / (fp + tn), tp / (tp + fn), fp, fn


@pytest.mark.parametrize("target", [0.01, 0.05, 0.2, 0.5])
def test_fpr_rule_is_the_most_accepting_threshold_within_target(target):
    y, s = _data()
    t = threshold_for_fpr(y, s, target)
    assert _rates(y, s, t)[0] <= target
    lower = np.unique(s)[np.unique(s) < t]
    assert lower.size == 0 or _rates(y, s, lower.max())[0] > target


@pytest.mark.parametrize("target", [0.1, 0.5, 0.9, 0.99])
def test_recall_rule_is_the_least_accepting_threshold_reaching_target(target):
    y, s = _data()
    t = threshold_for_recall(y, s, target)
    assert _rates(y, s, t)[1] >= target
    higher = np.unique(s)[np.unique(s) > t]
    assert higher.size == 0 or _rates(y, s, higher.min())[1] < target


def test_cost_rule_is_the_brute_force_minimum():
    y, s = _data()
    t = cost_threshold(y, s, cost_fp=1, cost_fn=7)
    candidates = np.r_[np.unique(s), np.nextafter(s.max(), 2)]
    costs = [(lambda r: 1 * r[2] + 7 * r[3])(_rates(y, s, c)) for c in candidates]
    assert 1 * _rates(y, s, t)[2] + 7 * _rates(y, s, t)[3] == min(costs)


def test_cost_rule_can_accept_nothing():
    t = cost_threshold([0, 0, 1], [0.9, 0.8, 0.1], cost_fp=10, cost_fn=1)
    assert t > 0.9


def test_weighted_fpr_rule():
    y, s = _data()
    w = np.random.default_rng(1).uniform(0.1, 5, y.size)
    t = threshold_for_fpr(y, s, 0.1, sample_weight=w)
    fpr = np.sum(w * ((s >= t) & (y == 0))) / np.sum(w * (y == 0))
    assert fpr <= 0.1


@pytest.mark.parametrize("rule, expected", [
    ("fixed", ("fixed", None)), ("eer", ("eer", None)), ("cost", ("cost", None)),
    ("fpr=0.001", ("fpr", 0.001)), ("recall=0.9", ("recall", 0.9)), ("fpr=1e-3", ("fpr", 0.001)),
])
def test_parse_rule(rule, expected):
    assert parse_rule(rule) == expected


@pytest.mark.parametrize("rule, message", [
    ("fdr=0.1", "threshold_rule must be one of 'fixed', 'eer', 'cost', 'fpr=<target>'"),
    ("fpr=1.5", r"threshold_rule 'fpr=1.5': the target must be a number in \(0, 1\), got '1.5'"),
    ("recall=", "threshold_rule must be one of"),
    ("fpr=1e", "the target must be a number"),
])
def test_bad_rules_are_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        parse_rule(rule)


def test_choose_threshold_states_the_rule():
    y, s = _data()
    op = choose_threshold(y, s, "fpr=0.05")
    assert op.threshold == threshold_for_fpr(y, s, 0.05)
    assert "FPR" in op.description and "0.05" in op.description
    eer = choose_threshold(y, s, "eer")
    fpr, recall, *_ = _rates(y, s, eer.threshold)
    assert abs(fpr - (1 - recall)) < 0.05
    assert choose_threshold(y, s, "fixed", threshold=0.3).threshold == 0.3
    with pytest.raises(ValueError, match="needs both classes"):
        choose_threshold(np.ones(5), np.linspace(0, 1, 5), "fpr=0.1")


def test_group_thresholds_reach_the_target_in_each_group():
    rng = np.random.default_rng(2)
    n = 3000
    g = pd.Series(rng.choice(["a", "b"], n))
    y = rng.integers(0, 2, n)
    s = np.clip(0.3 * y + rng.random(n) * 0.7 + np.where(g == "b", 0.1, 0), 0, 1)
    table = group_thresholds(y, s, g, threshold=0.5, target_fpr=0.05)
    for name, row in table.iterrows():
        m = (g == name).to_numpy()
        fpr, recall, *_ = _rates(y[m], s[m], row["threshold_for_target_fpr"])
        assert fpr <= 0.05
        assert row["recall_at_target_fpr"] == pytest.approx(recall)
        assert row["fpr"] == pytest.approx(_rates(y[m], s[m], 0.5)[0])
    assert table.loc["b", "threshold_shift"] > table.loc["a", "threshold_shift"]  # b's scores run higher


def test_group_thresholds_equal_each_group_on_its_own_to_the_last_bit():
    from evalkit.metrics import binary_metrics

    rng = np.random.default_rng(5)
    n = 4000
    g = pd.Series(rng.choice(["a", "b", "c", "only-pos", "only-neg"], n, p=[0.4, 0.3, 0.28, 0.01, 0.01]))
    y = rng.integers(0, 2, n).astype(np.int8)
    y[(g == "only-pos").to_numpy()], y[(g == "only-neg").to_numpy()] = 1, 0
    s = np.round(rng.random(n), 3)
    for w in (None, rng.gamma(2.0, 0.7, n)):
        table = group_thresholds(y, s, g, threshold=0.5, target_fpr=0.1, sample_weight=w)
        for name, row in table.iterrows():
            m = (g == name).to_numpy()
            wm = None if w is None else w[m]
            alone = binary_metrics(y[m], s[m], threshold=0.5, sample_weight=wm)
            t = threshold_for_fpr(y[m], s[m], 0.1, sample_weight=wm) if (y[m] == 0).any() else np.nan
            own = binary_metrics(y[m], s[m], threshold=t, sample_weight=wm)["recall"] if np.isfinite(t) else np.nan
            expected = [m.sum(), alone["fpr"], alone["recall"], t, own, t - 0.5]
            got = row[["n", "fpr", "recall", "threshold_for_target_fpr", "recall_at_target_fpr", "threshold_shift"]]
            np.testing.assert_array_equal(got.to_numpy(dtype=float), np.array(expected, dtype=float))
        assert np.isnan(table.loc["only-neg", "recall"]) and np.isnan(table.loc["only-pos", "threshold_for_target_fpr"])


@pytest.mark.parametrize("weighted", [False, True])
def test_group_thresholds_from_one_sort_equal_each_group_sorted_alone(weighted):
    """group_thresholds takes each group's samples from one descending sort of all scores: its threshold for the
    target FPR is threshold_for_fpr on the group's own samples, bit for bit (ties, weights, a group without
    negatives)."""
    from evalkit.metrics import group_thresholds, threshold_for_fpr

    rng = np.random.default_rng(8)
    n = 6000
    y = (rng.random(n) < 0.3).astype(np.int8)
    s = np.round(rng.random(n) * 0.7 + 0.3 * y, 2)
    groups = pd.Series(rng.choice(["a", "b", "c"], n))
    y[(groups == "c").to_numpy()] = 1  # no negatives: NaN
    w = rng.choice([0.5, 1.0, 3.0], n) if weighted else None
    got = group_thresholds(y, s, groups, threshold=0.5, target_fpr=0.05, sample_weight=w)
    again = group_thresholds(y, s, groups, threshold=0.5, target_fpr=0.05, sample_weight=w,
                             descending=np.argsort(-s, kind="stable"))
    pd.testing.assert_frame_equal(got, again, check_exact=True)
    for g in ("a", "b", "c"):
        m = (groups == g).to_numpy()
        expected = threshold_for_fpr(y[m], s[m], 0.05, sample_weight=None if w is None else w[m])
        assert got.loc[g, "threshold_for_target_fpr"] == expected or (np.isnan(expected) and
                                                                     np.isnan(got.loc[g, "threshold_for_target_fpr"]))


def _on_grid(n, seed, bins=64):
    """Scores on a grid of ``bins`` lower edges over [0, 1), labels, weights, and the binned counts of both."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(0, 1, bins + 1)[:-1]
    b = rng.integers(0, bins, n)
    y = (rng.random(n) < 0.2 + 0.6 * b / bins).astype(np.int8)
    w = rng.choice([0.5, 1.0, 2.5], n)
    counts, weighted = np.zeros((bins, 2)), np.zeros((bins, 2))
    np.add.at(counts, (b, y), 1)
    np.add.at(weighted, (b, y), w)
    return edges, y, edges[b], w, counts, weighted


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rule", ["fpr=0.01", "fpr=0.1", "recall=0.5", "recall=0.95", "cost"])
def test_binned_rules_equal_the_rules_on_scores_on_the_grid(seed, rule):
    """On scores that are the bins' lower edges, the binned rule is choose_threshold's, with and without weights
    (the same threshold, except "accept nothing", which must accept nothing in both)."""
    from evalkit.metrics import choose_threshold_binned

    edges, y, s, w, counts, weighted = _on_grid(int(50 + 100 * seed), seed)
    for c, sw in ((counts, None), (weighted, w)):
        expected = choose_threshold(y, s, rule, cost_fp=1.0, cost_fn=4.0, sample_weight=sw).threshold
        got = choose_threshold_binned(c, edges, rule, upper=1.0, cost_fp=1.0, cost_fn=4.0).threshold
        if expected > s.max():
            assert got > s.max() and got in (*edges, 1.0)
        else:
            assert got == expected


def test_binned_eer_is_the_edge_where_fpr_and_fnr_are_closest():
    from evalkit.metrics import choose_threshold_binned

    edges, y, s, _, counts, _ = _on_grid(3000, 1)
    got = choose_threshold_binned(counts, edges, "eer", upper=1.0).threshold
    gaps = {t: abs(_rates(y, s, t)[0] - (1 - _rates(y, s, t)[1])) for t in np.r_[edges, 1.0]}
    assert gaps[got] == min(gaps.values())
    assert abs(got - choose_threshold(y, s, "eer").threshold) <= edges[1]  # within one bin of the interpolated point


def test_binned_rules_accept_nothing_and_refuse_bad_counts():
    from evalkit.metrics import choose_threshold_binned

    edges = np.array([0.0, 0.5])
    assert choose_threshold_binned([[1, 0], [5, 1]], edges, "fpr=0.1", upper=1.0).threshold == 1.0
    assert choose_threshold_binned([[1, 0], [5, 1], [0, 0]], [0, 0.3, 0.6], "fpr=0.1", upper=1.0).threshold == 0.6
    assert choose_threshold_binned([[0, 3], [5, 0]], edges, "cost", upper=1.0).threshold == 1.0
    assert choose_threshold_binned([[1, 1]], [0.0], "fixed", upper=1.0, threshold=0.7).threshold == 0.7
    with pytest.raises(ValueError, match="needs both classes"):
        choose_threshold_binned([[0, 2], [0, 1]], edges, "eer", upper=1.0)
    with pytest.raises(ValueError, match=r"counts must have shape \(\.\.\., 2, 2\)"):
        choose_threshold_binned([[1, 2, 3]], edges, "eer", upper=1.0)
    with pytest.raises(ValueError, match="edges must be strictly increasing"):
        choose_threshold_binned([[1, 2], [1, 1]], [0.5, 0.5], "eer", upper=1.0)
    with pytest.raises(ValueError, match="finite and non-negative"):
        choose_threshold_binned([[1, -2], [1, 1]], edges, "eer", upper=1.0)
    with pytest.raises(ValueError, match="cost_fn must be a finite non-negative number"):
        choose_threshold_binned([[1, 2], [1, 1]], edges, "cost", upper=1.0, cost_fn=-1)


def test_binned_group_thresholds_equal_group_thresholds_on_the_grid():
    from evalkit.metrics import group_thresholds_binned

    edges, y, s, _, _, _ = _on_grid(5000, 3)
    rng = np.random.default_rng(3)
    groups = pd.Series(rng.choice(["a", "b", "c", "pos-only"], y.size, p=[0.5, 0.3, 0.19, 0.01]))
    y[(groups == "pos-only").to_numpy()] = 1
    names = sorted(groups.unique())
    per_group = np.zeros((len(names), edges.size, 2))
    np.add.at(per_group, (pd.Categorical(groups, names).codes, np.searchsorted(edges, s), y), 1)
    expected = group_thresholds(y, s, groups, threshold=0.5, target_fpr=0.05)
    got = group_thresholds_binned(per_group, edges, names, threshold=0.5, target_fpr=0.05, upper=1.0)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)
