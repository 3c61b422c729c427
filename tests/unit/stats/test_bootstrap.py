"""The histogram engine equals the exact engine when every score has its own bin, and the Poisson
bootstrap behaves as sampling theory says."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from evalkit.stats import bootstrap, combine_codes, group_interval_frames, histogram, histogram_metrics
from evalkit.data import group_columns
from evalkit.metrics import metrics_by_group
from evalkit.metrics import METRIC_NAMES, binary_metrics


def _codes(sensitive):
    return {f: pd.factorize(g, sort=True)[0] for f, g in group_columns(sensitive).items()}


def _data(n=3000, seed=0, decimals=2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int8)
    s = np.round(np.clip(0.35 * y + rng.random(n) * 0.7, 0, 1), decimals)  # ties
    sens = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n, p=[0.6, 0.3, 0.1]), "b": rng.choice(["p", "q"], n)})
    return y, s, sens


@pytest.mark.parametrize("weighted", [False, True])
def test_exact_bins_reproduce_every_metric(weighted):
    y, s, sens = _data()
    w = np.random.default_rng(1).uniform(0.2, 3, y.size) if weighted else None
    reps = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=20, seed=0, sample_weight=w)
    assert reps.exact
    exact = metrics_by_group(y, s, sensitive=sens, threshold=0.5, sample_weight=w)
    for feature in ("a", "b", "a&b"):
        np.testing.assert_allclose(reps.binned[feature], exact.loc[feature, list(METRIC_NAMES)].to_numpy(float),
                                   atol=1e-9, rtol=0, equal_nan=True)
    overall = binary_metrics(y, s, threshold=0.5, sample_weight=w)
    np.testing.assert_allclose(reps.binned["overall"][0], [overall[m] for m in METRIC_NAMES], atol=1e-9,
                               equal_nan=True)


def test_histogram_metrics_match_sklearn_on_a_random_histogram():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 6, (40, 2)).astype(float)
    edges = np.sort(rng.choice(np.linspace(0, 1, 101), 40, replace=False))
    y = np.r_[np.zeros(int(counts[:, 0].sum())), np.ones(int(counts[:, 1].sum()))]
    s = np.r_[np.repeat(edges, counts[:, 0].astype(int)), np.repeat(edges, counts[:, 1].astype(int))]
    kt = int(np.searchsorted(edges, 0.5))
    m = histogram_metrics(counts, counts, edges, kt)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, s >= edges[kt]), abs=1e-12)


def test_quantile_bins_stay_close_and_intervals_contain_the_exact_value():
    y, s, sens = _data(20000, decimals=9)
    reps = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=200, seed=0, max_bins=256)
    assert not reps.exact
    exact = metrics_by_group(y, s, sensitive=sens, threshold=0.5)
    j = reps.metrics.index("roc_auc")
    np.testing.assert_allclose(reps.binned["a"][:, j], exact.loc["a", "roc_auc"], atol=2e-3)
    k = reps.metrics.index("recall")  # the threshold is a bin edge: counts at it stay exact
    np.testing.assert_allclose(reps.binned["a"][:, k], exact.loc["a", "recall"], atol=1e-12)
    groups, overall = group_interval_frames(reps, exact, binary_metrics(y, s), 0.95)
    for metric in ("roc_auc", "eer", "recall", "average_precision"):
        lo, hi = groups[(metric, "ci_low")], groups[(metric, "ci_high")]
        assert ((lo <= exact[metric]) & (exact[metric] <= hi)).all(), metric


def test_interval_width_matches_binomial_theory():
    rng = np.random.default_rng(3)
    n = 20000
    y = (rng.random(n) < 0.4).astype(np.int8)
    s = np.where(y == 1, rng.random(n) * 0.6 + 0.4, rng.random(n) * 0.6)
    reps = bootstrap(y, s, {"g": np.zeros(n, dtype=np.int64)}, threshold=0.7, n_boot=600, seed=1)
    j = reps.metrics.index("recall")
    recall = reps.binned["overall"][0, j]
    sd = np.std(reps.values["overall"][:, 0, j])
    assert sd == pytest.approx(np.sqrt(recall * (1 - recall) / y.sum()), rel=0.15)


def test_same_seed_same_intervals_other_seed_other_intervals():
    y, s, sens = _data(2000)
    a = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=50, seed=4)
    b = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=50, seed=4)
    c = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=50, seed=5)
    np.testing.assert_array_equal(a.values["a&b"], b.values["a&b"])
    assert not np.array_equal(a.values["a&b"], c.values["a&b"])


def test_batches_do_not_change_the_result():
    y, s, sens = _data(2000)
    one = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=60, seed=2)
    many = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=60, seed=2, batch_bytes=1)
    np.testing.assert_allclose(one.values["a"], many.values["a"], equal_nan=True)


def test_single_class_group_has_no_auc_interval():
    y = np.array([1] * 50 + [0, 1] * 100, dtype=np.int8)
    s = np.linspace(0, 1, y.size)
    sens = pd.DataFrame({"g": ["only_pos"] * 50 + ["mixed"] * 200})
    exact = metrics_by_group(y, s, sensitive=sens, threshold=0.5)
    reps = bootstrap(y, s, _codes(sens), threshold=0.5, n_boot=50)
    groups, _ = group_interval_frames(reps, exact, binary_metrics(y, s), 0.95)
    assert np.isnan(groups.loc[("g", "only_pos"), ("roc_auc", "ci_low")])
    assert not np.isnan(groups.loc[("g", "mixed"), ("roc_auc", "ci_low")])


def test_combine_codes_maps_cells_back_to_groups():
    a = np.array([0, 1, 0, 1, 2])
    b = np.array([1, 1, 1, 0, 0])
    cells, n, of = combine_codes({"a": a, "b": b})
    assert n == 4
    for i in range(a.size):
        assert of["a"][cells[i]] == a[i] and of["b"][cells[i]] == b[i]


def test_histogram_puts_the_threshold_on_a_bin_edge():
    y = np.array([0, 1, 1, 0], dtype=np.int8)
    s = np.array([0.1, 0.45, 0.55, 0.9])
    h = histogram(y, s, np.zeros(4, dtype=np.int64), 1, threshold=0.5)
    assert h.edges[h.threshold_bin] == 0.5
    assert h.counts[0, h.threshold_bin:].sum() == 2


def test_an_interval_without_enough_defined_replicates_stays_undefined():
    from evalkit.stats import shifted_interval

    mostly_undefined = np.array([[np.nan]] * 8 + [[0.1], [0.2]])
    low, high = shifted_interval(mostly_undefined, np.array([0.15]), np.array([0.15]), 0.95)
    assert np.isnan(low[0]) and np.isnan(high[0])  # not a zero-width interval at the point estimate
    low, high = shifted_interval(np.array([[0.1], [0.2], [0.3]]), np.array([0.5]), np.array([0.2]), 0.95)
    assert low[0] < 0.5 <= high[0]  # shifted by exact - binned, and never excluding the exact value


def test_percentile_interval_quantiles_are_numpys_nanquantile_float_for_float():
    """The vectorised quantile of positions without NaN (numpy's nanquantile loops over every position) gives
    np.nanquantile's floats, signed zeros included, on any axis, with NaN, infinities, ties and empty arrays."""
    import warnings

    from evalkit.stats._bootstrap import _nanquantile

    rng = np.random.default_rng(0)
    for trial in range(300):
        shape = (400, 60) if trial % 50 == 0 else (0, 3) if trial % 97 == 0 else \
            tuple(int(v) for v in rng.integers(1, 9, size=rng.integers(2, 4)))
        x = rng.normal(size=shape) * 10.0 ** rng.integers(-3, 4)
        if trial % 3:
            x[rng.random(shape) < rng.random() * (trial % 5 == 0)] = np.nan
        if trial % 7 == 0:
            x = np.round(x, 1)  # ties, and -0.0 beside 0.0
        if trial % 13 == 0:
            x[rng.random(shape) < 0.1] = np.inf
        axis, qs = int(rng.integers(0, x.ndim)), [0.025, 0.975] if trial % 2 else [float(rng.random()), 0.5]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanquantile(x, qs, axis=axis)
        got = _nanquantile(x, qs, axis)
        np.testing.assert_array_equal(got, expected)
        assert np.array_equal(np.signbit(got), np.signbit(expected))
