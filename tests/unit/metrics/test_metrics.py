"""Every metric against scikit-learn on the same data (to 1e-9), and the EER on hand-computed cases."""

import numpy as np
import pytest
from sklearn import metrics as skm

from evalkit.metrics import (
    METRIC_NAMES,
    binary_metrics,
    eer_threshold,
    equal_error_rate,
    group_metric_table,
    undefined_reason,
)


def _data(seed: int, n: int = 3000, decimals: int = 2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), decimals)  # rounded: many ties
    return y, s


def _reference(y, s, threshold):
    p = s >= threshold
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    return {
        "n": len(y), "prevalence": y.mean(), "selection_rate": p.mean(),
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p, zero_division=np.nan),
        "recall": skm.recall_score(y, p, zero_division=np.nan),
        "f1": skm.f1_score(y, p, zero_division=np.nan),
        "fpr": fp / (fp + tn), "fnr": fn / (fn + tp), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "roc_auc": skm.roc_auc_score(y, s), "average_precision": skm.average_precision_score(y, s),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.71])
@pytest.mark.parametrize("decimals", [1, 2, 6])
def test_binary_metrics_match_sklearn(seed, threshold, decimals):
    y, s = _data(seed, decimals=decimals)
    ours = binary_metrics(y, s, threshold=threshold)
    for name, expected in _reference(y, s, threshold).items():
        assert ours[name] == pytest.approx(float(expected), abs=1e-9, rel=0), name


def test_all_names_present():
    y, s = _data(0)
    assert list(binary_metrics(y, s)) == list(METRIC_NAMES)


def test_string_labels_and_pos_label():
    y = np.array(["no", "yes", "no", "yes"])
    m = binary_metrics(y, [0.1, 0.9, 0.6, 0.4], pos_label="yes")
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 1, 1)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", [0.1, 0.9, 0.6, 0.4]))


def test_threshold_is_inclusive():
    m = binary_metrics([0, 1], [0.5, 0.5], threshold=0.5)
    assert m["selection_rate"] == 1.0


def test_group_table_matches_per_group_sklearn():
    y, s = _data(3)
    codes = np.random.default_rng(99).integers(0, 4, len(y))
    table = group_metric_table(y.astype(np.int8), s, codes, 4, threshold=0.5)
    for g in range(4):
        ref = _reference(y[codes == g], s[codes == g], 0.5)
        for name, expected in ref.items():
            assert table[name][g] == pytest.approx(float(expected), abs=1e-9, rel=0)


def test_group_with_no_samples_is_nan():
    table = group_metric_table(np.array([0, 1], np.int8), np.array([0.2, 0.8]), np.array([0, 0]), 2, threshold=0.5)
    assert table["n"][1] == 0
    assert np.isnan(table["accuracy"][1]) and np.isnan(table["roc_auc"][1])


def test_undefined_values_are_nan_with_reason():
    m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3])  # one class, nothing predicted positive
    for name in ("recall", "fnr", "roc_auc", "average_precision", "eer", "precision", "f1"):
        assert np.isnan(m[name]), name
    assert m["fpr"] == 0.0 and m["accuracy"] == 1.0
    assert undefined_reason("recall", m) == "no positive samples"
    assert undefined_reason("roc_auc", m) == "only one class present"
    assert undefined_reason("precision", m) == "no predicted positives"
    assert undefined_reason("f1", m) == "no positive samples and no predicted positives"
    assert undefined_reason("accuracy", m) is None
    m = binary_metrics([1, 1], [0.1, 0.9])
    assert np.isnan(m["fpr"]) and undefined_reason("fpr", m) == "no negative samples"


def test_bad_scores_and_threshold():
    with pytest.raises(ValueError, match="y_score must be finite; found 1 NaN"):
        binary_metrics([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"y_score must have shape \(2,\)"):
        binary_metrics([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="threshold must be a finite number, got nan"):
        binary_metrics([0, 1], [0.1, 0.2], threshold=float("nan"))
    with pytest.raises(ValueError, match="threshold must be a finite number, got '0.5'"):
        binary_metrics([0, 1], [0.1, 0.2], threshold="0.5")


# --- Equal error rate: hand-computed cases -------------------------------------------------------
# The curve starts at "accept nothing" (FPR 0, FNR 1) and lowers the threshold through each distinct
# score; the EER is where FPR - FNR changes sign, linearly interpolated.

def test_eer_perfect_separation():
    # t=0.9: FPR 0, FNR .5; t=0.8: FPR 0, FNR 0 -> they meet at 0 with threshold 0.8
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert eer_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.8


def test_eer_exact_crossing():
    # t=.4: FPR 0, FNR .5; t=.3: FPR .5, FNR .5 -> EER .5 at .3
    assert equal_error_rate([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == 0.5
    assert eer_threshold([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.3)


def test_eer_interpolated():
    # negatives .1 .2 .6, positives .5 .9
    # t=.9: FPR 0,   FNR .5  (d=-.5)
    # t=.6: FPR 1/3, FNR .5  (d=-1/6)
    # t=.5: FPR 1/3, FNR 0   (d=+1/3)   -> alpha = (1/6)/(1/2) = 1/3
    # EER = 1/3 + 1/3*(1/3-1/3) = 1/3; on FNR: .5 + 1/3*(0-.5) = 1/3. threshold = .6 + 1/3*(.5-.6)
    y, s = [0, 0, 0, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.9]
    assert equal_error_rate(y, s) == pytest.approx(1 / 3, abs=1e-12)
    assert eer_threshold(y, s) == pytest.approx(0.6 - 0.1 / 3, abs=1e-12)


def test_eer_interpolated_both_rates_move():
    # negatives .3 .7, positives .5 .6; ties none
    # t=.7: FPR .5, FNR 1 (d=-.5); t=.6: FPR .5, FNR .5 (d=0) -> EER .5 at .6
    assert equal_error_rate([0, 0, 1, 1], [0.3, 0.7, 0.5, 0.6]) == 0.5
    # tied scores move both rates at once: t=.5: FPR 1, FNR 0 from FPR 0, FNR 1 -> .5, threshold .5
    assert equal_error_rate([0, 1], [0.5, 0.5]) == 0.5
    assert eer_threshold([0, 1], [0.5, 0.5]) == 0.5


def test_eer_inverted_scores():
    # all positives below all negatives: FPR reaches 1 before FNR drops: d=0 at FPR=1, FNR=1? no:
    # t=.9: FPR .5 FNR 1; t=.8: FPR 1, FNR 1 (d=0) -> EER 1
    assert equal_error_rate([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_eer_is_where_fpr_equals_fnr_on_sklearn_curve():
    y, s = _data(5, decimals=6)
    eer, thr = equal_error_rate(y, s), eer_threshold(y, s)
    fpr, tpr, thresholds = skm.roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    i = np.argmax(fpr - fnr >= 0)
    assert fpr[i - 1] - 1e-12 <= eer <= fpr[i] + 1e-12
    assert fnr[i] - 1e-12 <= eer <= fnr[i - 1] + 1e-12
    assert thresholds[i] <= thr <= thresholds[i - 1]
    # at the EER threshold FPR and FNR are both within one step of the EER
    assert abs(np.mean(s[y == 0] >= thr) - eer) < 0.01
    assert abs(np.mean(s[y == 1] < thr) - eer) < 0.01


def test_eer_needs_both_classes():
    with pytest.raises(ValueError, match="needs both classes"):
        equal_error_rate([1, 1], [0.2, 0.4])


def test_fnmr_at_fmr_hand_computed():
    # 200 negatives, so the FMR resolves 1e-2 (2 false matches) but not 1e-3. Descending: 0.99 (pos),
    # 0.95 (neg), 0.9 (neg), 0.5 (pos), 0.197 (neg), ... The most accepting point with at most 2 false
    # matches is threshold 0.5, which accepts 2 of the 4 positives: FNMR = 0.5.
    neg = np.r_[np.arange(198) / 1000, 0.95, 0.9]
    pos = np.array([0.99, 0.5, 0.15, 0.05])
    y = np.r_[np.zeros(200), np.ones(4)]
    s = np.r_[neg, pos]
    m = binary_metrics(y, s)
    assert m["fnmr_at_fmr_1e-2"] == 0.5
    assert np.isnan(m["fnmr_at_fmr_1e-3"]) and np.isnan(m["fnmr_at_fmr_1e-4"])  # < 1000 negatives
    assert undefined_reason("fnmr_at_fmr_1e-3", m) == (
        "fewer than 1,000 negative samples: the FMR cannot reach 0.001")


def test_fnmr_at_fmr_equals_the_roc_curve_definition():
    rng = np.random.default_rng(11)
    y = (rng.random(30000) < 0.3).astype(int)
    s = np.round(rng.normal(y * 2.0, 1.0), 3)
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    m = binary_metrics(y, s)
    for name, target in (("fnmr_at_fmr_1e-2", 1e-2), ("fnmr_at_fmr_1e-3", 1e-3), ("fnmr_at_fmr_1e-4", 1e-4)):
        assert m[name] == pytest.approx(1 - tpr[fpr <= target][-1], abs=1e-12)


def test_sample_weights_match_sklearn():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500), 2)
    w = rng.uniform(0.1, 4, 500)
    m = binary_metrics(y, s, threshold=0.4, sample_weight=w)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, s, sample_weight=w), abs=1e-12)
    assert m["precision"] == pytest.approx(skm.precision_score(y, s >= 0.4, sample_weight=w), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, s >= 0.4, sample_weight=w), abs=1e-12)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, s >= 0.4, sample_weight=w), abs=1e-12)
    assert m["n"] == 500  # a count, not a weight sum
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        binary_metrics(y, s, sample_weight=-w)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(500,\)"):
        binary_metrics(y, s, sample_weight=w[:3])


@pytest.mark.parametrize("weighted", [False, True])
def test_one_descending_sort_for_every_grouping_gives_the_same_table(weighted):
    """group_metric_table with ``descending`` (one sort of the scores, then a radix sort of each grouping's codes)
    equals the table without it, bit for bit, with tied scores and weights; the order is np.lexsort's."""
    rng = np.random.default_rng(5)
    n = 20000
    y = (rng.random(n) < 0.3).astype(np.int8)
    s = np.round(rng.random(n) * 0.7 + 0.3 * y, 2)  # many ties
    w = rng.choice([0.5, 1.0, 2.0], n) if weighted else None
    from evalkit.metrics._binary import grouped_descending

    descending = np.argsort(-s, kind="stable")
    for n_groups in (1, 3, 40):
        codes = rng.integers(0, n_groups, n)
        # the order both take: np.lexsort's (by group, then descending score, ties in sample order)
        np.testing.assert_array_equal(grouped_descending(s, codes, n_groups), np.lexsort((-s, codes)))
        np.testing.assert_array_equal(grouped_descending(s, codes, n_groups, descending), np.lexsort((-s, codes)))
        a = group_metric_table(y, s, codes, n_groups, threshold=0.5, sample_weight=w)
        b = group_metric_table(y, s, codes, n_groups, threshold=0.5, sample_weight=w, descending=descending)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
