"""Fitting diagnostics and learning curves (evalkit/diagnostics/_fitting.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from evalkit.diagnostics import fitting_diagnostics, learning_curve
from evalkit.models import load_estimator, load_scorer, resolve_model


def _diagnose(adult, path, **kwargs):
    train, test = adult
    scorer = load_scorer(resolve_model(str(path)), positive_label=">50K")
    s_tr, s_ev = scorer(train.frame), scorer(test.frame)
    return fitting_diagnostics(train.y_true, s_tr, train.sensitive, test.y_true, s_ev, test.sensitive, **kwargs), \
        s_tr, s_ev


def test_values_equal_sklearn_on_each_set_and_group(adult, flawed_models):
    train, test = adult
    fit, s_tr, s_ev = _diagnose(adult, flawed_models["sound"], metrics=("roc_auc", "accuracy"), n_boot=50)
    t = fit.table.set_index(["metric", "feature", "group"])
    assert t.loc[("roc_auc", "overall", "all"), "train"] == pytest.approx(roc_auc_score(train.y_true, s_tr), abs=1e-9)
    assert t.loc[("roc_auc", "overall", "all"), "eval"] == pytest.approx(roc_auc_score(test.y_true, s_ev), abs=1e-9)
    w_tr = train.sensitive["sex"].to_numpy() == "Female"
    w_ev = test.sensitive["sex"].to_numpy() == "Female"
    row = t.loc[("accuracy", "sex", "Female")]
    assert row["train"] == pytest.approx(accuracy_score(train.y_true[w_tr], s_tr[w_tr] >= 0.5), abs=1e-12)
    assert row["eval"] == pytest.approx(accuracy_score(test.y_true[w_ev], s_ev[w_ev] >= 0.5), abs=1e-12)
    assert row["gap"] == pytest.approx(row["train"] - row["eval"], abs=1e-12)
    assert row["n_train"] == w_tr.sum() and row["n_eval"] == w_ev.sum()
    assert row["gap_ci_low"] <= row["gap"] <= row["gap_ci_high"]


def test_the_overfitted_model_is_flagged_and_the_sound_one_is_not(adult, flawed_models):
    over, _, _ = _diagnose(adult, flawed_models["overfitted"], metrics=("roc_auc",), max_gap=0.03, n_boot=100)
    sound, _, _ = _diagnose(adult, flawed_models["sound"], metrics=("roc_auc",), max_gap=0.03, n_boot=100)
    assert over.gap("roc_auc")["gap_ci_low"] > 0.2
    assert over.table.set_index(["feature", "group"]).loc[("overall", "all"), "flag"] == "overfit"
    assert sound.table.set_index(["feature", "group"]).loc[("overall", "all"), "flag"] == ""
    assert sound.gap("roc_auc")["gap_ci_high"] < 0.03


def test_underfitting_is_flagged_from_the_training_value(adult):
    train, test = adult
    rng = np.random.default_rng(0)
    fit = fitting_diagnostics(train.y_true, rng.random(len(train)), train.sensitive, test.y_true,
                              rng.random(len(test)), test.sensitive, metrics=("roc_auc",), n_boot=50)
    assert fit.table.set_index(["feature", "group"]).loc[("overall", "all"), "flag"] == "underfit"


def test_small_groups_are_listed_but_never_flagged(adult, flawed_models):
    fit, _, _ = _diagnose(adult, flawed_models["overfitted"], metrics=("roc_auc",), n_boot=20, min_group_size=2000)
    small = fit.table[(fit.table.n_eval < 2000) | (fit.table.n_train < 2000)]
    assert len(small) and (small.flag == "").all()


def test_bad_settings_are_refused(adult):
    train, test = adult
    with pytest.raises(ValueError, match="fitting metrics must be among"):
        fitting_diagnostics(train.y_true, train.y_true * 1.0, train.sensitive, test.y_true, test.y_true * 1.0,
                            test.sensitive, metrics=("eer",))
    with pytest.raises(ValueError, match="max_gap"):
        fitting_diagnostics(train.y_true, train.y_true * 1.0, train.sensitive, test.y_true, test.y_true * 1.0,
                            test.sensitive, max_gap=-1)


def test_learning_curve_refits_on_growing_stratified_shares(adult, flawed_models):
    train, test = adult
    model = load_estimator(resolve_model(str(flawed_models["overfitted"])))
    curve = learning_curve(model, train, test, fractions=(0.1, 0.5, 1.0), metric="roc_auc")
    assert curve.n_train.tolist() == [round(0.1 * len(train)), round(0.5 * len(train)), len(train)]
    assert (curve.train > 0.99).all()  # an unpruned tree memorises whatever it is given
    assert (curve.train - curve["eval"] > 0.15).all()
    # The full-data refit reproduces the shipped model's evaluation score.
    full = load_scorer(resolve_model(str(flawed_models["overfitted"])), positive_label=">50K")(test.frame)
    assert curve["eval"].iloc[-1] == pytest.approx(roc_auc_score(test.y_true, full), abs=1e-9)


def test_learning_curve_refuses_what_it_cannot_refit(adult):
    train, test = adult
    with pytest.raises(ValueError, match="can refit only scikit-learn estimators"):
        learning_curve(object(), train, test)
    with pytest.raises(ValueError, match=r"fractions must lie in \(0, 1\]"):
        learning_curve(object(), train, test, fractions=(0, 1))


def _per_sample(y, score, sensitive, metric, n_boot, seed):
    """The former path: per-sample Poisson weights over every row, one metric per group column."""
    from evalkit.data import group_columns
    from evalkit.stats import group_matrix, metric_by_columns, replicates

    groups, index = group_matrix(group_columns(sensitive, intersections=False), len(y))
    point = metric_by_columns(metric, y, score, 0.5, groups)
    reps = replicates(lambda w: metric_by_columns(metric, y, score, 0.5, groups, w), len(y), n_boot, seed)
    return index, point, reps


@pytest.mark.parametrize("metric", ["accuracy", "recall", "fpr", "roc_auc"])
def test_values_and_intervals_agree_with_the_former_per_sample_bootstrap(adult, flawed_models, metric):
    """Identical values and gaps, to the last digit; intervals equal to the former per-sample bootstrap's
    within Monte Carlo error (count metrics: the same distribution, other draws; ROC AUC: DeLong's normal
    interval against the bootstrap's percentile one, 10 % of the width allowed either way)."""
    from evalkit.stats import percentile_interval

    train, test = adult
    rng = np.random.default_rng(0)
    tr, ev = rng.choice(len(train), 4000, replace=False), rng.choice(len(test), 3000, replace=False)
    scorer = load_scorer(resolve_model(str(flawed_models["overfitted"])), positive_label=">50K")
    y_tr, y_ev = train.y_true[tr], test.y_true[ev]
    s_tr, s_ev = scorer(train.frame.iloc[tr]), scorer(test.frame.iloc[ev])
    sens_tr, sens_ev = train.sensitive.iloc[tr], test.sensitive.iloc[ev]
    fit = fitting_diagnostics(y_tr, s_tr, sens_tr, y_ev, s_ev, sens_ev, metrics=(metric,), n_boot=2000, seed=3)
    index, p_tr, r_tr = _per_sample(y_tr, s_tr, sens_tr, metric, 2000, 1)
    _, p_ev, r_ev = _per_sample(y_ev, s_ev, sens_ev, metric, 2000, 2)
    sign = -1.0 if metric == "fpr" else 1.0
    gap_low, gap_high = percentile_interval(sign * (r_tr - r_ev), 0.95)
    t = fit.table.set_index(["feature", "group"]).loc[list(index)]
    assert t["train"].tolist() == p_tr.tolist() and t["eval"].tolist() == p_ev.tolist()
    assert t["gap"].tolist() == (sign * (p_tr - p_ev)).tolist()
    width = gap_high - gap_low
    # intervals of small groups are too discrete (and DeLong's normal interval departs from the percentile one
    # where a group has few positives): compared where every group has 300 samples and 60 positives in each set
    positives = np.array([[y[(s[f] == g).to_numpy() if f != "overall" else slice(None)].sum() for f, g in index]
                          for y, s in ((y_tr, sens_tr), (y_ev, sens_ev))]).min(axis=0)
    big = (t[["n_train", "n_eval"]].min(axis=1) >= 300).to_numpy() & (positives >= 60)
    assert big.sum() >= 7
    tol = 0.1 * width[big]  # each endpoint is off by about 2 % of the width (2,000 draws): 4.5 SDs
    assert np.all(np.abs(t["gap_ci_low"].to_numpy()[big] - gap_low[big]) < tol)
    assert np.all(np.abs(t["gap_ci_high"].to_numpy()[big] - gap_high[big]) < tol)
    assert fit.methods[metric].startswith("DeLong" if metric == "roc_auc" else "Poisson bootstrap of each set's cells")


def test_auc_standard_error_is_delongs_on_each_set(adult, flawed_models):
    """The ROC AUC gap interval: the two sets' DeLong variances summed, to the last digit."""
    from scipy.stats import norm

    from evalkit.stats import auc_se

    fit, s_tr, s_ev = _diagnose(adult, flawed_models["sound"], metrics=("roc_auc",), n_boot=10)
    train, test = adult

    def se(y, s):  # every distinct score its own bin: auc_se's histogram in descending order
        values, inverse = np.unique(s, return_inverse=True)
        h = np.zeros((2, values.size))
        np.add.at(h, (y.astype(int), inverse), 1)
        return float(auc_se(h[None, :, ::-1])[0])

    half = norm.ppf(0.975) * np.hypot(se(train.y_true, s_tr), se(test.y_true, s_ev))
    row = fit.gap("roc_auc")
    assert row["gap_ci_low"] == pytest.approx(row["gap"] - half, abs=1e-12)
    assert row["gap_ci_high"] == pytest.approx(row["gap"] + half, abs=1e-12)
