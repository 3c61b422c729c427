"""The closed-form intervals reports use where the bootstrap does not keep its level (evalkit/stats/_methods.py):
each checked against scipy, a brute-force DeLong, or a hand-computed case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from evalkit.data import group_columns, make_biased_scores
from evalkit.metrics import binary_metrics, disparities, metrics_by_group, reference_disparities
from evalkit.settings import Resampling
from evalkit.stats import (
    auc_se,
    bootstrap,
    estimate_uncertainty,
    interval_methods,
    logit_auc_interval,
    max_min_interval,
    min_max_ratio_interval,
    newcombe_difference,
)


def _brute_delong(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float(np.sqrt(psi.mean(1).var(ddof=1) / pos.size + psi.mean(0).var(ddof=1) / neg.size))


def test_auc_se_equals_brute_force_delong_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = np.round(rng.normal(size=400) + y, 1)  # ties within and across classes
    values = np.unique(s)[::-1]
    h = np.zeros((1, 2, values.size))
    np.add.at(h[0], (y, np.searchsorted(-values, -s)), 1)
    assert auc_se(h)[0] == pytest.approx(_brute_delong(y, s), abs=1e-12)


def test_auc_se_from_the_bootstrap_histogram_when_bins_are_exact():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 2)  # < 256 distinct scores: exact bins
    g = rng.integers(0, 2, 200)
    reps = bootstrap(y, s, {"g": g}, threshold=0.5, n_boot=20)
    assert reps.exact
    for k in (0, 1):
        assert reps.auc_se["g"][k] == pytest.approx(_brute_delong(y[g == k], s[g == k]), abs=1e-12)
    assert reps.auc_se["overall"][0] == pytest.approx(_brute_delong(y, s), abs=1e-12)


def test_logit_interval_by_hand_and_at_perfect_separation():
    low, high = logit_auc_interval(np.array([0.8]), np.array([0.05]), np.array([50]), np.array([50]), 0.95)
    z = stats.norm.ppf(0.975)
    centre, width = np.log(4), z * 0.05 / 0.16
    assert low[0] == pytest.approx(1 / (1 + np.exp(-(centre - width))), abs=1e-12)
    assert high[0] == pytest.approx(1 / (1 + np.exp(-(centre + width))), abs=1e-12)
    # a perfect separation of 9 x 21 pairs: an interval below 1, not [1, 1]
    low, high = logit_auc_interval(np.array([1.0]), np.array([0.0]), np.array([9]), np.array([21]), 0.95)
    assert low[0] == pytest.approx(0.8141741305521402, abs=1e-9) and high[0] == 1.0
    # the score interval's bound solves (1 - t)^2 = z^2 V_HM(t)
    t = low[0]
    q1, q2 = t / (2 - t), 2 * t * t / (1 + t)
    v = (t * (1 - t) + 8 * (q1 - t * t) + 20 * (q2 - t * t)) / (9 * 21)
    assert (1 - t) ** 2 == pytest.approx(z * z * v, abs=1e-12)


def test_ratio_bounds_by_hand():
    lo, hi = stats.binomtest(30, 100).proportion_ci(0.975, method="wilson")
    low, high = min_max_ratio_interval(np.array([30, 30]), np.array([100, 100]), 0.95)
    assert low == pytest.approx(lo / hi, abs=1e-12) and high == 1.0


def _estimate(df: pd.DataFrame, weights: np.ndarray | None = None):
    y, s = df["y"].to_numpy(np.int8), df["score"].to_numpy()
    sens = df[["group", "band"]]
    by_group = metrics_by_group(y, s, sensitive=sens, threshold=0.5)
    codes = {f: pd.factorize(g, sort=True)[0] for f, g in group_columns(sens).items()}
    u = estimate_uncertainty(y, s, codes, by_group=by_group, overall=binary_metrics(y, s), disparities=disparities(by_group),
                             reference=reference_disparities(by_group), threshold=0.5, min_group_size=30,
                             resampling=Resampling(n_boot=100), sample_weight=weights)
    return u, by_group


def test_report_intervals_use_wilson_delong_and_simultaneous_bounds():
    u, by_group = _estimate(make_biased_scores(3000, positive_shift={"B": -1.0}, seed=5))
    assert u.methods["recall"] == "wilson" and u.methods["roc_auc"] == "delong-logit" and u.methods["f1"] == "percentile"
    assert u.disparity_methods["recall"] == "simultaneous-wilson" and u.disparity_methods["roc_auc"] == "percentile"
    for (feature, group), row in by_group.iterrows():
        pos = int(row["tp"] + row["fn"])
        ci = stats.binomtest(int(row["tp"]), pos).proportion_ci(0.95, method="wilson")
        assert u.by_group.loc[(feature, group), ("recall", "ci_low")] == pytest.approx(ci.low, abs=1e-12)
        assert u.by_group.loc[(feature, group), ("recall", "ci_high")] == pytest.approx(ci.high, abs=1e-12)
    # max - min of recall: Bonferroni-Wilson bounds over the groups, Newcombe for two groups
    groups = by_group.loc["group"]
    k, n = groups["tp"].to_numpy(), (groups["tp"] + groups["fn"]).to_numpy()
    expected = max_min_interval(k, n) if len(groups) > 2 else None
    got = tuple(u.disparities.loc[("group", "recall"), ["difference_ci_low", "difference_ci_high"]])
    if expected is not None:
        assert got == pytest.approx(expected, abs=1e-12)
    band = by_group.loc["band"]
    assert len(band) == 2
    lo, hi = newcombe_difference(band["tp"].iloc[0], band["tp"].iloc[0] + band["fn"].iloc[0],
                                 band["tp"].iloc[1], band["tp"].iloc[1] + band["fn"].iloc[1])
    got = tuple(u.disparities.loc[("band", "recall"), ["difference_ci_low", "difference_ci_high"]])
    bound = max(abs(float(lo)), abs(float(hi)))
    assert got[1] == pytest.approx(bound, abs=1e-12)
    assert got[0] == pytest.approx(0.0 if lo <= 0 <= hi else min(abs(float(lo)), abs(float(hi))), abs=1e-12)


def test_sample_weights_keep_the_bootstrap():
    df = make_biased_scores(2000, seed=6)
    u, _ = _estimate(df, weights=np.where(df["group"] == "A", 2.0, 1.0))
    assert set(u.methods.values()) == {"percentile"} and set(u.disparity_methods.values()) == {"percentile"}
    assert interval_methods(bootstrap(df["y"].to_numpy(), df["score"].to_numpy(), {"g": np.zeros(2000, int)},
                                      threshold=0.5, n_boot=20))["precision"] == "wilson"


def test_small_group_auc_interval_is_not_degenerate():
    """Nine positives, all above every negative: the old percentile interval was [1, 1]."""
    y = np.r_[np.ones(9), np.zeros(21)].astype(int)
    s = np.r_[np.linspace(0.7, 0.9, 9), np.linspace(0.1, 0.6, 21)]
    assert roc_auc_score(y, s) == 1.0
    reps = bootstrap(y, s, {"g": np.zeros(30, int)}, threshold=0.5, n_boot=50)
    assert reps.auc_se["g"][0] == 0.0
    low, high = logit_auc_interval(np.array([1.0]), reps.auc_se["g"], np.array([9]), np.array([21]), 0.95)
    assert 0.8 < low[0] < 0.82 and high[0] == 1.0
