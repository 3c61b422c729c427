"""Intervals for disparities, reference-group comparisons and the Benjamini-Hochberg correction."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.metrics import disparities, metrics_by_group, reference_disparities
from evalkit.data import group_columns
from evalkit.metrics import binary_metrics
from evalkit.data import make_biased_scores
from evalkit.stats import benjamini_hochberg, estimate_uncertainty, tolerance_p_value
from evalkit.settings import Resampling, check_uncertainty_settings


def test_benjamini_hochberg_equals_scipy():
    p = np.random.default_rng(0).random(200) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p), atol=1e-12)


def test_benjamini_hochberg_ignores_nan():
    out = benjamini_hochberg([0.01, np.nan, 0.04])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], stats.false_discovery_control([0.01, 0.04]))


def test_tolerance_p_value():
    assert tolerance_p_value(0.1, 0.02, 0.05) == pytest.approx(stats.norm.sf(2.5))
    assert tolerance_p_value(-0.1, 0.02, 0.05) == pytest.approx(stats.norm.sf(2.5))  # either direction
    assert tolerance_p_value(0.01, 0.02, 0.05) > 0.9
    assert tolerance_p_value(0.1, 0.0, 0.05) == 0.0


def _estimate(df, **kwargs):
    y, s = df["y"].to_numpy(np.int8), df["score"].to_numpy()
    sens = df[["group", "band"]]
    by_group = metrics_by_group(y, s, sensitive=sens, threshold=0.5)
    disp = disparities(by_group)
    ref = reference_disparities(by_group)
    codes = {f: pd.factorize(g, sort=True)[0] for f, g in group_columns(sens).items()}
    u = estimate_uncertainty(y, s, codes, by_group=by_group, overall=binary_metrics(y, s), disparities=disp,
                             reference=ref, threshold=0.5, min_group_size=30,
                             resampling=Resampling(n_boot=400, **kwargs))
    return u, disp


def test_injected_bias_survives_the_correction_and_no_bias_does_not():
    biased, _ = _estimate(make_biased_scores(6000, positive_shift={"B": -1.5}, seed=1))
    fair, _ = _estimate(make_biased_scores(6000, positive_shift={}, seed=1))
    key = ("group", "recall", "B")
    assert biased.reference.loc[key, "reference"] == "A"
    assert biased.reference.loc[key, "significant"]
    assert biased.reference.loc[key, "difference_ci_high"] < -0.05
    assert not fair.reference.loc[("group", "recall", "B"), "significant"]
    single = fair.reference.loc[["group", "band"]]
    assert not single["significant"].any()


def test_disparity_intervals_contain_the_point_estimate():
    u, disp = _estimate(make_biased_scores(3000, seed=2))
    both = disp.join(u.disparities).dropna(subset=["difference"])
    assert ((both["difference_ci_low"] <= both["difference"]) & (both["difference"] <= both["difference_ci_high"])).all()
    assert (both["difference_ci_high"] > both["difference_ci_low"]).any()


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_boot=5), "n_boot must be 0 .* or an integer >= 20, got 5"),
    (dict(n_boot=True), "n_boot must be"),
    (dict(ci_level=1.0), r"ci_level must be a number in \(0.5, 1\), got 1.0"),
    (dict(seed=-1), "seed must be a non-negative integer, got -1"),
    (dict(tolerance=-0.1), "tolerance must be a finite non-negative number, got -0.1"),
    (dict(fdr=0), r"fdr must be a number in \(0, 1\), got 0"),
])
def test_settings_are_checked(kwargs, message):
    settings = dict(n_boot=100, ci_level=0.95, seed=0, tolerance=0.05, fdr=0.05) | kwargs
    with pytest.raises(ValueError, match=message):
        check_uncertainty_settings(**settings)
