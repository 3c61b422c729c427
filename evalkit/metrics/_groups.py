"""Metrics per demographic group, intersections of groups, and disparities between groups.

fairlearn's :class:`~fairlearn.metrics.MetricFrame` defines what a per-group metric and a
between-groups disparity are; evalkit computes the same numbers with the vectorised engine in
:mod:`evalkit.metrics` (``engine="vectorised"``, the default) and can delegate to MetricFrame itself
(``engine="fairlearn"``). The test suite checks that both engines agree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import get_args

import numpy as np
import pandas as pd

from ..data import group_columns
from ..settings import Engine, MIN_GROUP_SIZE
from ._binary import LOWER_IS_BETTER, METRIC_NAMES, group_metric_table

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
    "fnmr_at_fmr_1e-2",
    "fnmr_at_fmr_1e-3",
    "fnmr_at_fmr_1e-4",
)


def reference_metrics(threshold: float) -> dict[str, Callable[..., float]]:
    """The built-in metrics as scikit-learn-based functions ``f(y_true, y_score, sample_weight=None)``.

    This is the reference definition of every name in :data:`~evalkit.metrics.METRIC_NAMES`, used by
    ``engine="fairlearn"`` through :class:`~fairlearn.metrics.MetricFrame` and by the tests.
    """
    from sklearn import metrics as skm

    from ._binary import FMR_TARGETS

    def cm(y, s, w):  # tn, fp, fn, tp
        return skm.confusion_matrix(y, s >= threshold, labels=[0, 1], sample_weight=w).ravel().astype(float)

    def needs(fn, *, positives=False, negatives=False):
        def wrapped(y, s, sample_weight=None):
            if (positives and not np.any(y == 1)) or (negatives and np.all(y == 1)):
                return np.nan
            return float(fn(y, s, sample_weight=sample_weight))

        return wrapped

    def at_threshold(fn):
        return lambda y, s, sample_weight=None: float(
            fn(y, s >= threshold, zero_division=np.nan, sample_weight=sample_weight))

    def eer(y, s, sample_weight=None, *, which=0):
        fpr, tpr, thr = skm.roc_curve(y, s, sample_weight=sample_weight, drop_intermediate=False)
        d = fpr - (1 - tpr)
        i = int(np.argmax(d >= 0))
        alpha = -d[i - 1] / (d[i] - d[i - 1])
        if which == 0:
            return fpr[i - 1] + alpha * (fpr[i] - fpr[i - 1])
        return thr[i] if not np.isfinite(thr[i - 1]) else thr[i - 1] + alpha * (thr[i] - thr[i - 1])

    def fnmr_at(target):
        def fn(y, s, sample_weight=None):
            if np.sum(y == 0) * target < 1 - 1e-9:
                return np.nan
            fpr, tpr, _ = skm.roc_curve(y, s, sample_weight=sample_weight, drop_intermediate=False)
            return 1 - tpr[fpr <= target * (1 + 1e-12)][-1]

        return fn

    def weighted_mean(v, w):
        return float(np.average(v, weights=w))

    out: dict[str, Callable[..., float]] = {
        "n": lambda y, s, sample_weight=None: float(len(y)),
        "prevalence": lambda y, s, sample_weight=None: weighted_mean(y, sample_weight),
        "selection_rate": lambda y, s, sample_weight=None: weighted_mean(s >= threshold, sample_weight),
        "accuracy": lambda y, s, sample_weight=None: float(
            skm.accuracy_score(y, s >= threshold, sample_weight=sample_weight)),
        "precision": at_threshold(skm.precision_score),
        "recall": at_threshold(skm.recall_score),
        "f1": at_threshold(skm.f1_score),
        "fpr": needs(lambda y, s, sample_weight: cm(y, s, sample_weight)[1] / cm(y, s, sample_weight)[[0, 1]].sum(),
                     negatives=True),
        "fnr": needs(lambda y, s, sample_weight: cm(y, s, sample_weight)[2] / cm(y, s, sample_weight)[[2, 3]].sum(),
                     positives=True),
        "tp": lambda y, s, sample_weight=None: cm(y, s, sample_weight)[3],
        "fp": lambda y, s, sample_weight=None: cm(y, s, sample_weight)[1],
        "tn": lambda y, s, sample_weight=None: cm(y, s, sample_weight)[0],
        "fn": lambda y, s, sample_weight=None: cm(y, s, sample_weight)[2],
        "roc_auc": needs(skm.roc_auc_score, positives=True, negatives=True),
        "average_precision": needs(skm.average_precision_score, positives=True),
        "eer": needs(eer, positives=True, negatives=True),
        "eer_threshold": needs(lambda y, s, sample_weight: eer(y, s, sample_weight, which=1),
                               positives=True, negatives=True),
    }
    out.update({name: needs(fnmr_at(t), positives=True, negatives=True) for name, t in FMR_TARGETS.items()})
    return out


def _by_group_vectorised(y_true: np.ndarray, y_score: np.ndarray, groups: pd.Series, threshold: float,
                         sample_weight: np.ndarray | None, descending: np.ndarray | None = None) -> pd.DataFrame:
    codes, uniques = pd.factorize(groups, sort=True)
    table = group_metric_table(y_true, y_score, codes, len(uniques), threshold=threshold, sample_weight=sample_weight,
                               descending=descending)
    index = pd.Index(np.asarray(uniques, dtype=object), name="group")
    return pd.DataFrame({m: table[m] for m in METRIC_NAMES}, index=index)


def _by_group_fairlearn(y_true: np.ndarray, y_score: np.ndarray, groups: pd.Series, threshold: float,
                        sample_weight: np.ndarray | None) -> pd.DataFrame:
    from fairlearn.metrics import MetricFrame

    metrics = reference_metrics(threshold)
    params = None if sample_weight is None else {m: {"sample_weight": sample_weight} for m in metrics}
    frame = MetricFrame(
        metrics=metrics,
        y_true=y_true,
        y_pred=y_score,
        sensitive_features=pd.Series(groups.to_numpy(), name="group"),
        sample_params=params,
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
    sample_weight: np.ndarray | None = None,
    groupings: Mapping[str, pd.Series] | None = None,
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
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative sample weights (see :func:`evalkit.metrics.group_metric_table`).
    groupings : dict of str to Series, optional
        ``group_columns(sensitive, intersections=intersections)`` when the caller has built it already
        (building it costs about 0.2 s per feature at 10^6 rows); ``sensitive`` and ``intersections`` are then
        not read again.

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
    every = groupings if groupings is not None else group_columns(sensitive, intersections=intersections)
    if engine == "vectorised":  # one sort of the scores for every grouping
        descending = np.argsort(-np.asarray(y_score, dtype=np.float64), kind="stable")
        parts = {feature: _by_group_vectorised(y_true, y_score, groups, threshold, sample_weight, descending)
                 for feature, groups in every.items()}
    else:
        parts = {feature: _by_group_fairlearn(y_true, y_score, groups, threshold, sample_weight)
                 for feature, groups in every.items()}
    return pd.concat(parts, names=["feature", "group"])


def disparities(by_group: pd.DataFrame, *, min_group_size: int = MIN_GROUP_SIZE, metrics: Sequence[str] = DISPARITY_METRICS,
                lower_is_better: Collection[str] = LOWER_IS_BETTER) -> pd.DataFrame:
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
    metrics : sequence of str, default=DISPARITY_METRICS
        Columns of ``by_group`` to compare.
    lower_is_better : collection of str
        Metrics whose worst group is the one with the highest value.

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
        for metric in metrics:
            values = table[metric].dropna()
            row = {"feature": feature, "metric": metric, "groups_compared": len(values)}
            if len(values) >= 2:
                lo, hi = values.min(), values.max()
                worse, better = (values.idxmax(), values.idxmin()) if metric in lower_is_better else (
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


def check_reference(sensitive: pd.DataFrame, reference: Mapping[str, str] | None, *,
                    intersections: bool = True) -> None:
    """Check that every ``feature: group`` of ``reference`` exists in the data (before any work).

    Raises
    ------
    ValueError
        Naming the unknown feature (with the features there are) or group (with the groups there are).
    """
    if not reference:
        return
    if not isinstance(reference, Mapping):
        raise ValueError(f"reference must be a mapping of feature to group, got {reference!r}")
    columns = group_columns(sensitive, intersections=intersections)
    _check_reference_names(reference, {f: list(c.cat.categories) for f, c in columns.items()})


def _check_reference_names(reference: Mapping[str, str], groups: Mapping[str, list[str]]) -> None:
    """Every feature of ``reference`` is in ``groups``, and its group among that feature's (sorted) groups."""
    unknown = sorted(set(reference) - set(groups))
    if unknown:
        raise ValueError(f"reference names unknown feature(s) {unknown}; features are {list(groups)}")
    for feature, group in reference.items():
        if group not in groups[feature]:
            raise ValueError(f"reference group {group!r} for feature {feature!r} does not exist; "
                             f"groups are {sorted(groups[feature])}")


def reference_groups(by_group: pd.DataFrame, reference: Mapping[str, str] | None = None) -> dict[str, str]:
    """The reference group of each feature: ``reference[feature]`` if given, else the largest group.

    Raises
    ------
    ValueError
        If ``reference`` names a feature or group that is not in ``by_group``.
    """
    reference = dict(reference or {})
    features = list(by_group.index.get_level_values("feature").unique())
    _check_reference_names(reference, {f: list(by_group.loc[f].index) for f in features})
    return {f: reference[f] if f in reference else by_group.loc[f, "n"].idxmax() for f in features}


def reference_disparities(
    by_group: pd.DataFrame,
    *,
    reference: Mapping[str, str] | None = None,
    min_group_size: int = MIN_GROUP_SIZE,
    metrics: Sequence[str] = DISPARITY_METRICS,
) -> pd.DataFrame:
    """Each group against its feature's reference group: ``difference = group - reference`` and
    ``ratio = group / reference`` (fairlearn's ``method="to_overall"`` idea, with a chosen group instead
    of the overall value).

    Only groups with at least ``min_group_size`` samples and a defined value are compared.

    Returns
    -------
    DataFrame
        Indexed by ``(feature, metric, group)``; columns ``reference``, ``value``,
        ``reference_value``, ``difference``, ``ratio`` (NaN when the reference value is 0).
    """
    refs = reference_groups(by_group, reference)
    rows = []
    for feature, ref in refs.items():
        table = by_group.loc[feature]
        eligible = table[table["n"] >= min_group_size]
        for metric in metrics:
            ref_value = table.loc[ref, metric]
            for group, value in eligible[metric].items():
                if group == ref or pd.isna(value) or pd.isna(ref_value):
                    continue
                rows.append({"feature": feature, "metric": metric, "group": group, "reference": ref,
                             "value": value, "reference_value": ref_value, "difference": value - ref_value,
                             "ratio": value / ref_value if ref_value != 0 else np.nan})
    out = pd.DataFrame(rows, columns=["feature", "metric", "group", "reference", "value", "reference_value",
                                      "difference", "ratio"])
    return out.set_index(["feature", "metric", "group"])


def small_groups(by_group: pd.DataFrame, *, min_group_size: int = MIN_GROUP_SIZE) -> pd.DataFrame:
    """Groups with fewer than ``min_group_size`` samples, with their size, sorted by feature and size.

    Returns
    -------
    DataFrame
        Columns ``feature``, ``group``, ``n``.
    """
    small = by_group.loc[by_group["n"] < min_group_size, ["n"]].reset_index()
    return small.sort_values(["feature", "n"], kind="stable").reset_index(drop=True)
