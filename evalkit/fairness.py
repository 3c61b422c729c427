"""Metrics per demographic group, intersections of groups, and disparities between groups.

fairlearn's :class:`~fairlearn.metrics.MetricFrame` defines what a per-group metric and a
between-groups disparity are; evalkit computes the same numbers with the vectorised engine in
:mod:`evalkit.metrics` (``engine="vectorised"``, the default) and can delegate to MetricFrame itself
(``engine="fairlearn"``). The test suite checks that both engines agree.
"""

from __future__ import annotations

from itertools import combinations
from typing import Literal, get_args

import numpy as np
import pandas as pd

from .metrics import LOWER_IS_BETTER, METRIC_NAMES, group_metric_table

Engine = Literal["vectorised", "fairlearn"]
#: Separator between feature names, and between group values, of an intersection.
INTERSECTION_SEP = "&"
#: Metrics whose disparities are reported (counts are not compared between groups of unequal size).
DISPARITY_METRICS: tuple[str, ...] = (
    "selection_rate",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "fpr",
    "fnr",
    "roc_auc",
    "average_precision",
    "eer",
)


def group_columns(sensitive: pd.DataFrame, *, intersections: bool = True) -> dict[str, pd.Series]:
    """The grouping columns to evaluate: each sensitive feature and, optionally, each pair of them.

    Parameters
    ----------
    sensitive : DataFrame
        One string column per sensitive feature.
    intersections : bool, default=True
        Add pairwise intersections, named ``"a&b"`` with values ``"x&y"``.

    Returns
    -------
    dict of str to Series
        Feature name to the group value of every sample.
    """
    cols = {c: sensitive[c].astype(str) for c in sensitive.columns}
    if intersections:
        for a, b in combinations(sensitive.columns, 2):
            cols[f"{a}{INTERSECTION_SEP}{b}"] = cols[a] + INTERSECTION_SEP + cols[b]
    return cols


def _reference_metrics(threshold: float) -> dict[str, object]:
    """The built-in metrics as scikit-learn functions ``f(y_true, y_score)``, for MetricFrame."""
    from sklearn import metrics as skm

    from .metrics import eer_threshold, equal_error_rate

    def cm(y, s):  # tn, fp, fn, tp
        return skm.confusion_matrix(y, s >= threshold, labels=[0, 1]).ravel().astype(float)

    def needs(fn, *, positives=False, negatives=False):
        def wrapped(y, s):
            if (positives and not np.any(y == 1)) or (negatives and np.all(y == 1)):
                return np.nan
            return float(fn(y, s))

        return wrapped

    def at_threshold(fn):
        return lambda y, s: float(fn(y, s >= threshold, zero_division=np.nan))

    return {
        "n": lambda y, s: float(len(y)),
        "prevalence": lambda y, s: float(np.mean(y)),
        "selection_rate": lambda y, s: float(np.mean(s >= threshold)),
        "accuracy": lambda y, s: float(skm.accuracy_score(y, s >= threshold)),
        "precision": at_threshold(skm.precision_score),
        "recall": at_threshold(skm.recall_score),
        "f1": at_threshold(skm.f1_score),
        "fpr": needs(lambda y, s: cm(y, s)[1] / np.sum(y == 0), negatives=True),
        "fnr": needs(lambda y, s: cm(y, s)[2] / np.sum(y == 1), positives=True),
        "tp": lambda y, s: cm(y, s)[3],
        "fp": lambda y, s: cm(y, s)[1],
        "tn": lambda y, s: cm(y, s)[0],
        "fn": lambda y, s: cm(y, s)[2],
        "roc_auc": needs(skm.roc_auc_score, positives=True, negatives=True),
        "average_precision": needs(skm.average_precision_score, positives=True),
        "eer": needs(equal_error_rate, positives=True, negatives=True),
        "eer_threshold": needs(eer_threshold, positives=True, negatives=True),
    }


def _by_group_vectorised(y_true: np.ndarray, y_score: np.ndarray, groups: pd.Series, threshold: float) -> pd.DataFrame:
    codes, uniques = pd.factorize(groups, sort=True)
    table = group_metric_table(y_true, y_score, codes, len(uniques), threshold=threshold)
    return pd.DataFrame({m: table[m] for m in METRIC_NAMES}, index=pd.Index(uniques, name="group"))


def _by_group_fairlearn(y_true: np.ndarray, y_score: np.ndarray, groups: pd.Series, threshold: float) -> pd.DataFrame:
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics=_reference_metrics(threshold),
        y_true=y_true,
        y_pred=y_score,
        sensitive_features=pd.Series(groups.to_numpy(), name="group"),
    )
    return frame.by_group[list(METRIC_NAMES)].astype(float).sort_index()


def metrics_by_group(
    y_true: np.ndarray,
    y_score: np.ndarray,
    *,
    sensitive: pd.DataFrame,
    threshold: float,
    intersections: bool = True,
    engine: Engine = "vectorised",
) -> pd.DataFrame:
    """Every built-in metric for every group of every sensitive feature (and their intersections).

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        0/1 labels.
    y_score : ndarray of shape (n_samples,)
        Finite scores.
    sensitive : DataFrame
        One string column per sensitive feature, aligned with ``y_true``.
    threshold : float
        Decision threshold (``y_score >= threshold`` is positive).
    intersections : bool, default=True
        Also evaluate each pair of features (see :func:`group_columns`).
    engine : {"vectorised", "fairlearn"}, default="vectorised"
        ``"fairlearn"`` computes through :class:`fairlearn.metrics.MetricFrame` with scikit-learn
        metrics: identical values, many times slower; used as the reference in tests.

    Returns
    -------
    DataFrame
        Indexed by ``(feature, group)``, one column per name in :data:`~evalkit.metrics.METRIC_NAMES`.
        Undefined values are NaN.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> t = metrics_by_group(np.array([0, 1, 0, 1]), np.array([.2, .8, .6, .4]),
    ...                      sensitive=pd.DataFrame({"sex": ["F", "F", "M", "M"]}), threshold=.5)
    >>> t.loc[("sex", "F"), "accuracy"], t.loc[("sex", "M"), "accuracy"]
    (np.float64(1.0), np.float64(0.0))
    """
    if engine not in get_args(Engine):
        raise ValueError(f"engine must be one of {list(get_args(Engine))}, got {engine!r}")
    compute = _by_group_vectorised if engine == "vectorised" else _by_group_fairlearn
    parts = {
        feature: compute(y_true, y_score, groups, threshold)
        for feature, groups in group_columns(sensitive, intersections=intersections).items()
    }
    return pd.concat(parts, names=["feature", "group"])


def disparities(by_group: pd.DataFrame, *, min_group_size: int = 30) -> pd.DataFrame:
    """Between-group disparities per feature and metric, as fairlearn defines them.

    ``difference`` is max - min over groups and ``ratio`` is min / max (fairlearn's
    ``method="between_groups"``), taken over the groups with at least ``min_group_size`` samples and a
    defined value. Smaller groups are left out of the comparison (their estimates are too noisy), and
    are reported by :func:`small_groups` instead of being dropped silently.

    Parameters
    ----------
    by_group : DataFrame
        The output of :func:`metrics_by_group`.
    min_group_size : int, default=30
        Groups with fewer samples are not compared.

    Returns
    -------
    DataFrame
        Indexed by ``(feature, metric)`` with columns ``difference``, ``ratio``, ``worst_group``,
        ``best_group``, ``groups_compared``. ``difference`` and ``ratio`` are NaN when fewer than two
        groups can be compared; ``ratio`` is NaN when the max is 0.
    """
    rows = []
    for feature, table in by_group.groupby(level="feature", sort=False):
        table = table.droplevel("feature")
        table = table[table["n"] >= min_group_size]
        for metric in DISPARITY_METRICS:
            values = table[metric].dropna()
            row = {"feature": feature, "metric": metric, "groups_compared": len(values)}
            if len(values) >= 2:
                lo, hi = values.min(), values.max()
                worse, better = (values.idxmax(), values.idxmin()) if metric in LOWER_IS_BETTER else (
                    values.idxmin(), values.idxmax())
                row.update(
                    difference=hi - lo,
                    ratio=lo / hi if hi != 0 else np.nan,
                    worst_group=worse,
                    best_group=better,
                )
            rows.append(row)
    out = pd.DataFrame(rows, columns=["feature", "metric", "difference", "ratio", "worst_group",
                                      "best_group", "groups_compared"])
    return out.set_index(["feature", "metric"])


def small_groups(by_group: pd.DataFrame, *, min_group_size: int = 30) -> pd.DataFrame:
    """Groups with fewer than ``min_group_size`` samples, with their size, sorted by feature and size.

    Returns
    -------
    DataFrame
        Columns ``feature``, ``group``, ``n``.
    """
    small = by_group.loc[by_group["n"] < min_group_size, ["n"]].reset_index()
    return small.sort_values(["feature", "n"], kind="stable").reset_index(drop=True)
