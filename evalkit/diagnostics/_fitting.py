"""Fitting diagnostics: training against evaluation metrics (overall and per group), and learning curves.

A model that is much better on its training data than on the evaluation data is *overfitted*; one
that is poor even on its training data is *underfitted*. :func:`fitting_diagnostics` measures both
with bootstrap intervals (the two datasets are independent samples, so their replicates are drawn
independently), per group as well as overall, since a model can memorise a small group while
generalising for the rest. :func:`learning_curve` refits a scikit-learn model on growing shares of the
training data and scores each fit on both sets.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..settings import CI_LEVEL, MIN_GROUP_SIZE
from ..stats import percentile_interval
from ..data import Dataset
from ..data import group_columns
from ..metrics import LOWER_IS_BETTER
from ..stats import PAIRED_METRICS, group_matrix, metric_by_columns, replicates

#: Default lower bounds on training metrics below which a model is called underfitted.
DEFAULT_MIN_TRAIN: dict[str, float] = {"roc_auc": 0.7}


@dataclass
class FitDiagnostics:
    """The result of :func:`fitting_diagnostics`.

    Attributes
    ----------
    table : DataFrame
        One row per metric x (feature, group), overall first (feature ``overall``, group ``all``):
        ``metric``, ``feature``, ``group``, ``n_train``, ``n_eval``, ``train``, ``eval``, ``gap``,
        ``gap_ci_low``, ``gap_ci_high``, ``train_ci_low``, ``train_ci_high``, ``flag``. ``gap`` is the
        loss from training to evaluation data (train − eval; eval − train for lower-is-better
        metrics). ``flag`` is ``overfit`` (gap interval above ``max_gap``), ``possible overfit``
        (estimate above, interval across), ``underfit`` (training interval below the metric's
        ``min_train``) or empty.
    max_gap : float
    min_train : dict
    level : float
    """

    table: pd.DataFrame
    max_gap: float
    min_train: dict[str, float]
    level: float

    def flagged(self) -> pd.DataFrame:
        """The rows with a flag, worst gap first."""
        return self.table[self.table["flag"] != ""].sort_values("gap", ascending=False, kind="stable")

    def gap(self, metric: str, feature: str = "overall", group: str = "all") -> dict[str, float]:
        """``gap``, ``gap_ci_low``, ``gap_ci_high`` and ``n_eval`` of one row (NaN if absent)."""
        t = self.table
        row = t[(t.metric == metric) & (t.feature == feature) & (t.group == group)]
        if row.empty:
            return {"gap": math.nan, "gap_ci_low": math.nan, "gap_ci_high": math.nan, "n_eval": math.nan}
        return {k: float(row.iloc[0][k]) for k in ("gap", "gap_ci_low", "gap_ci_high", "n_eval")}


def fitting_diagnostics(
    y_train: np.ndarray,
    score_train: np.ndarray,
    sensitive_train: pd.DataFrame,
    y_eval: np.ndarray,
    score_eval: np.ndarray,
    sensitive_eval: pd.DataFrame,
    *,
    threshold: float = 0.5,
    metrics: Sequence[str] = ("roc_auc", "accuracy", "recall"),
    max_gap: float = 0.05,
    min_train: Mapping[str, float] | None = None,
    n_boot: int = 500,
    level: float = CI_LEVEL,
    seed: int = 0,
    min_group_size: int = MIN_GROUP_SIZE,
) -> FitDiagnostics:
    """Compare a model's metrics on its training data and on the evaluation data.

    Parameters
    ----------
    y_train, score_train, sensitive_train
        Training labels (0/1), the model's scores on them, and their sensitive features.
    y_eval, score_eval, sensitive_eval
        The same for the evaluation data. Features present in both are compared per group.
    threshold : float, default=0.5
    metrics : sequence of str
        Among :data:`evalkit.paired.PAIRED_METRICS`.
    max_gap : float, default=0.05
        A larger loss from training to evaluation data is flagged as overfitting.
    min_train : dict of str to float, optional
        Lower bounds on training metrics (default :data:`DEFAULT_MIN_TRAIN`).
    n_boot, level, seed
        Bootstrap settings (``n_boot=0``: no intervals, flags from the estimates).
    min_group_size : int, default=30
        Groups smaller than this in either set are listed but never flagged.

    Returns
    -------
    FitDiagnostics
    """
    unknown = [m for m in metrics if m not in PAIRED_METRICS]
    if unknown:
        raise ValueError(f"fitting metrics must be among {list(PAIRED_METRICS)}, got {unknown}")
    if not (isinstance(max_gap, (int, float)) and max_gap >= 0):
        raise ValueError(f"max_gap must be a number >= 0, got {max_gap!r}")
    min_train = dict(DEFAULT_MIN_TRAIN if min_train is None else min_train)
    shared = [c for c in sensitive_eval.columns if c in sensitive_train.columns]
    g_tr, index = group_matrix(group_columns(sensitive_train[shared], intersections=False), len(y_train)) \
        if shared else group_matrix({}, len(y_train))
    g_ev, index_ev = group_matrix(group_columns(sensitive_eval[shared], intersections=False), len(y_eval)) \
        if shared else group_matrix({}, len(y_eval))
    keys = [k for k in index_ev if k in set(index)]  # groups present in both sets
    col_tr = [index.get_loc(k) for k in keys]
    col_ev = [index_ev.get_loc(k) for k in keys]
    g_tr, g_ev = g_tr[:, col_tr], g_ev[:, col_ev]
    n_tr, n_ev = g_tr.sum(axis=0), g_ev.sum(axis=0)
    rows = []
    for metric in metrics:
        sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
        tr = metric_by_columns(metric, y_train, score_train, threshold, g_tr)
        ev = metric_by_columns(metric, y_eval, score_eval, threshold, g_ev)
        gap = sign * (tr - ev)
        if n_boot:
            rtr = replicates(lambda w, m=metric: metric_by_columns(m, y_train, score_train, threshold, g_tr, w),
                             len(y_train), n_boot, seed)
            rev = replicates(lambda w, m=metric: metric_by_columns(m, y_eval, score_eval, threshold, g_ev, w),
                             len(y_eval), n_boot, seed + 1)
            gap_low, gap_high = percentile_interval(sign * (rtr - rev), level)
            tr_low, tr_high = percentile_interval(rtr, level)
        else:
            gap_low, gap_high, tr_low, tr_high = gap, gap, tr, tr
        for j, (feature, group) in enumerate(keys):
            small = min(n_tr[j], n_ev[j]) < min_group_size
            flag = ""
            bound = min_train.get(metric)
            if not small and math.isfinite(gap_low[j]) and gap_low[j] > max_gap:
                flag = "overfit"
            elif not small and math.isfinite(gap[j]) and gap[j] > max_gap:
                flag = "possible overfit"
            elif not small and bound is not None and math.isfinite(tr_high[j]) and sign * (tr_high[j] if sign > 0
                                                                                             else tr_low[j]) < sign * bound:
                flag = "underfit"
            rows.append({"metric": metric, "feature": feature, "group": group, "n_train": float(n_tr[j]),
                         "n_eval": float(n_ev[j]), "train": float(tr[j]), "eval": float(ev[j]), "gap": float(gap[j]),
                         "gap_ci_low": float(gap_low[j]), "gap_ci_high": float(gap_high[j]),
                         "train_ci_low": float(tr_low[j]), "train_ci_high": float(tr_high[j]), "flag": flag})
    return FitDiagnostics(table=pd.DataFrame(rows), max_gap=float(max_gap), min_train=min_train, level=level)


def learning_curve(
    estimator: Any,
    train: Dataset,
    evaluation: Dataset,
    *,
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 1.0),
    metric: str = "roc_auc",
    threshold: float = 0.5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Refit a copy of ``estimator`` on growing, stratified shares of the training data.

    Parameters
    ----------
    estimator : scikit-learn estimator
        The model (unchanged: each fit uses :func:`sklearn.base.clone`).
    train, evaluation : Dataset
    fractions : sequence of float in (0, 1]
    metric : str
        One of :data:`evalkit.paired.PAIRED_METRICS`.
    threshold : float, default=0.5
    seed : int, default=0
        Seeds the subsamples (the same seed gives the same curve).

    Returns
    -------
    DataFrame
        ``fraction``, ``n_train``, ``train``, ``eval`` (the metric on the subsample it was fitted on and
        on the evaluation data).

    Raises
    ------
    ValueError
        If the model cannot be refitted (not a scikit-learn estimator), or a fraction is outside (0, 1].
    """
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    if metric not in PAIRED_METRICS:
        raise ValueError(f"metric must be one of {list(PAIRED_METRICS)}, got {metric!r}")
    bad = [f for f in fractions if not (isinstance(f, (int, float)) and 0 < f <= 1)]
    if bad or not fractions:
        raise ValueError(f"fractions must lie in (0, 1], got {list(fractions)}")
    try:
        template = clone(estimator)
    except Exception as err:
        raise ValueError(f"evalkit can refit only scikit-learn estimators; {type(estimator).__name__} cannot be "
                         f"cloned: {err}") from err
    columns = list(getattr(estimator, "feature_names_in_", train.features.columns))
    X, y = train.frame[columns], train.y_true
    X_eval, y_eval = evaluation.frame[columns], evaluation.y_true
    ones = np.ones((1, 1), dtype=np.float32)
    rows = []
    for fraction in sorted(fractions):
        if fraction < 1:
            idx, _ = train_test_split(np.arange(len(y)), train_size=fraction, stratify=y, random_state=seed)
            idx = np.sort(idx)
        else:
            idx = np.arange(len(y))
        if progress:
            progress(f"learning curve: fitting on {len(idx)} rows ({fraction:.0%})")
        model = clone(template).fit(X.iloc[idx], y[idx])
        pos = list(model.classes_).index(1) if 1 in list(model.classes_) else -1
        s_tr = model.predict_proba(X.iloc[idx])[:, pos]
        s_ev = model.predict_proba(X_eval)[:, pos]
        rows.append({"fraction": float(fraction), "n_train": int(len(idx)),
                     "train": float(metric_by_columns(metric, y[idx], s_tr, threshold, np.ones((len(idx), 1),
                                                                                               dtype=np.float32))[0]),
                     "eval": float(metric_by_columns(metric, y_eval, s_ev, threshold,
                                                     np.repeat(ones, len(y_eval), axis=0))[0])})
    return pd.DataFrame(rows)


def _print(message: str) -> None:
    print(f"evalkit: {message}", file=sys.stderr, flush=True)
