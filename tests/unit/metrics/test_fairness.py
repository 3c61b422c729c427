"""Per-group metrics and disparities against fairlearn's MetricFrame on the same data."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_negative_rate, selection_rate
from sklearn import metrics as skm

from evalkit.metrics import DISPARITY_METRICS, disparities, metrics_by_group, small_groups
from evalkit.data import group_columns
from evalkit.metrics import FMR_TARGETS, METRIC_NAMES


def _arrays(frame):
    return frame["y"].to_numpy(np.int8), frame["score"].to_numpy()


def test_vectorised_equals_metricframe_engine(biased):
    y, s = _arrays(biased)
    sens = biased[["group", "band"]]
    ours = metrics_by_group(y, s, sensitive=sens, threshold=0.5)
    ref = metrics_by_group(y, s, sensitive=sens, threshold=0.5, engine="fairlearn")
    assert ours.index.equals(ref.index)
    assert list(ours.columns) == list(METRIC_NAMES)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-9, equal_nan=True)


def test_against_fairlearn_builtin_metrics(biased):
    """Independent of evalkit's reference functions: fairlearn's own metrics and sklearn's."""
    y, s = _arrays(biased)
    ours = metrics_by_group(y, s, sensitive=biased[["group"]], threshold=0.5).loc["group"]
    mf = MetricFrame(
        metrics={"selection_rate": selection_rate, "fnr": false_negative_rate,
                 "recall": skm.recall_score, "precision": skm.precision_score},
        y_true=y, y_pred=s >= 0.5, sensitive_features=biased["group"],
    )
    for metric in mf.by_group.columns:
        np.testing.assert_allclose(ours[metric].to_numpy(), mf.by_group[metric].to_numpy(), atol=1e-9, rtol=0)
    auc = MetricFrame(metrics=skm.roc_auc_score, y_true=y, y_pred=s, sensitive_features=biased["group"])
    np.testing.assert_allclose(ours["roc_auc"].to_numpy(), auc.by_group.to_numpy(), atol=1e-9, rtol=0)


def test_intersections_match_metricframe_on_two_columns(biased):
    y, s = _arrays(biased)
    ours = metrics_by_group(y, s, sensitive=biased[["group", "band"]], threshold=0.5).loc["group&band"]
    mf = MetricFrame(metrics=skm.recall_score, y_true=y, y_pred=s >= 0.5,
                     sensitive_features=biased[["group", "band"]])
    for (g, b), value in mf.by_group.items():
        assert ours.loc[f"{g}&{b}", "recall"] == pytest.approx(value, abs=1e-9)


def test_injected_bias_is_found(biased):
    y, s = _arrays(biased)
    table = metrics_by_group(y, s, sensitive=biased[["group", "band"]], threshold=0.5)
    d = disparities(table)
    assert d.loc[("group", "recall"), "worst_group"] == "B"
    assert d.loc[("group", "fnr"), "worst_group"] == "B"
    assert d.loc[("group", "recall"), "difference"] > 0.2
    # band is independent of the bias: its recall gap is small
    assert d.loc[("band", "recall"), "difference"] < 0.08


def test_disparities_equal_metricframe_between_groups(biased):
    y, s = _arrays(biased)
    table = metrics_by_group(y, s, sensitive=biased[["group"]], threshold=0.5)
    d = disparities(table, min_group_size=1)
    mf = MetricFrame(metrics={"recall": skm.recall_score, "selection_rate": selection_rate},
                     y_true=y, y_pred=s >= 0.5, sensitive_features=biased["group"])
    diff, ratio = mf.difference(method="between_groups"), mf.ratio(method="between_groups")
    for metric in ("recall", "selection_rate"):
        assert d.loc[("group", metric), "difference"] == pytest.approx(diff[metric], abs=1e-12)
        assert d.loc[("group", metric), "ratio"] == pytest.approx(ratio[metric], abs=1e-12)
        assert d.loc[("group", metric), "groups_compared"] == 3


def test_small_groups_left_out_of_disparities_and_listed():
    rng = np.random.default_rng(0)
    n = 500
    y = rng.integers(0, 2, n).astype(np.int8)
    s = rng.random(n)
    g = np.where(np.arange(n) < 10, "tiny", "big")
    g[10:250] = "mid"
    table = metrics_by_group(y, s, sensitive=pd.DataFrame({"g": g}), threshold=0.5)
    d = disparities(table, min_group_size=30)
    assert d.loc[("g", "accuracy"), "groups_compared"] == 2
    expected = abs(table.loc[("g", "big"), "accuracy"] - table.loc[("g", "mid"), "accuracy"])
    assert d.loc[("g", "accuracy"), "difference"] == pytest.approx(expected)
    small = small_groups(table, min_group_size=30)
    assert small.to_dict("records") == [{"feature": "g", "group": "tiny", "n": 10.0}]
    assert ("g", "tiny") in table.index  # kept, not dropped


def test_single_group_has_no_disparity():
    table = metrics_by_group(np.array([0, 1] * 20, np.int8), np.linspace(0, 1, 40),
                             sensitive=pd.DataFrame({"g": ["only"] * 40}), threshold=0.5)
    d = disparities(table)
    assert d["difference"].isna().all()
    assert (d["groups_compared"].drop(index=list(FMR_TARGETS), level="metric") == 1).all()  # FNMR: too few negatives
    assert set(d.index.get_level_values("metric")) == set(DISPARITY_METRICS)


def test_group_columns_intersections():
    cols = group_columns(pd.DataFrame({"a": ["x", "y"], "b": ["1", "2"], "c": ["p", "q"]}))
    assert list(cols) == ["a", "b", "c", "a&b", "a&c", "b&c", "a&b&c"]
    assert cols["a&c"].tolist() == ["x&p", "y&q"]
    assert cols["a&b&c"].tolist() == ["x&1&p", "y&2&q"]
    assert list(group_columns(pd.DataFrame({"a": ["x"]}), intersections=False)) == ["a"]
    assert list(group_columns(pd.DataFrame({"a": ["x"], "b": ["1"]}))) == ["a", "b", "a&b"]  # two: no extra


def test_full_intersection_equals_metricframe_with_three_features():
    """fairlearn's MetricFrame with three sensitive features gives the three-way groups directly."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import recall_score

    rng = np.random.default_rng(3)
    n = 3000
    sens = pd.DataFrame({"a": rng.choice(["x", "y"], n), "b": rng.choice(["1", "2", "3"], n),
                         "c": rng.choice(["p", "q"], n)})
    y, s = rng.integers(0, 2, n), rng.random(n)
    ours = metrics_by_group(y, s, sensitive=sens, threshold=0.5).loc["a&b&c", "recall"]
    mf = MetricFrame(metrics=recall_score, y_true=y, y_pred=(s >= 0.5).astype(int), sensitive_features=sens)
    ref = {"&".join(k): v for k, v in mf.by_group.items()}
    assert len(ours) == len(ref) == 12
    for group, value in ours.items():
        assert value == pytest.approx(ref[group], abs=1e-12)


def test_unknown_engine():
    with pytest.raises(ValueError, match=r"engine must be one of \['vectorised', 'fairlearn'\], got 'spark'"):
        metrics_by_group(np.array([0, 1]), np.array([0.1, 0.9]), sensitive=pd.DataFrame({"g": ["a", "b"]}),
                         threshold=0.5, engine="spark")
