"""Fitting diagnostics: training against evaluation metrics (overall and per group), and learning curves.

A model that is much better on its training data than on the evaluation data is *overfitted*; one
that is poor even on its training data is *underfitted*. :func:`fitting_diagnostics` measures both
with intervals, per group as well as overall, since a model can memorise a small group while generalising
for the rest. The two datasets are independent samples, so each is resampled on its own: count metrics by a
Poisson bootstrap of each set's cells (group of every feature x label x decision; the per-sample Poisson
bootstrap in distribution, see :class:`evalkit.stats.JointCells`), ROC AUC by DeLong's standard error of each
set (the gap's variance is the sum of the two; the training value's interval is on the logit scale, as in
reports). :func:`learning_curve` refits a scikit-learn model on growing shares of the
training data and scores each fit on both sets.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..settings import CI_LEVEL, MIN_GROUP_SIZE
from ..data import Dataset
from ..data import group_columns
from ..metrics import LOWER_IS_BETTER
from ..stats import (
    PAIRED_METRICS,
    JointCells,
    auc_and_se,
    count_metrics_by_columns,
    group_codes,
    logit_auc_interval,
    metric_by_columns,
    percentile_interval,
)

#: How :func:`fitting_diagnostics` computes each interval (``FitDiagnostics.methods``).
FIT_METHODS: dict[str, str] = {
    "roc_auc": "DeLong standard error of each set; gap: normal interval with the two variances summed (independent "
               "sets); training value: on the logit scale",
    "count": "Poisson bootstrap of each set's cells (group x label x decision), percentile interval",
}

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
    methods : dict of str to str
        How each metric's intervals were computed (see :data:`FIT_METHODS`).
    """

    table: pd.DataFrame
    max_gap: float
    min_train: dict[str, float]
    level: float
    methods: dict[str, str] = field(default_factory=dict)

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
    tr_set = _SetValues(y_train, score_train, threshold, sensitive_train[shared], metrics, n_boot, [seed, 0])
    ev_set = _SetValues(y_eval, score_eval, threshold, sensitive_eval[shared], metrics, n_boot, [seed, 1])
    keys = [k for k in ev_set.index if k in set(tr_set.index)]  # groups present in both sets
    col_tr = np.array([tr_set.index.get_loc(k) for k in keys], dtype=np.int64)
    col_ev = np.array([ev_set.index.get_loc(k) for k in keys], dtype=np.int64)
    n_tr, n_ev = tr_set.n[col_tr], ev_set.n[col_ev]
    rows = []
    for metric in metrics:
        sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
        tr, ev = tr_set.point[metric][col_tr], ev_set.point[metric][col_ev]
        gap = sign * (tr - ev)
        if not n_boot:
            gap_low, gap_high, tr_low, tr_high = gap, gap, tr, tr
        elif metric == "roc_auc":
            from scipy.stats import norm

            se_tr, se_ev = tr_set.auc_se[col_tr], ev_set.auc_se[col_ev]
            half = float(norm.ppf(0.5 + level / 2)) * np.sqrt(se_tr**2 + se_ev**2)
            gap_low, gap_high = gap - half, gap + half
            tr_low, tr_high = logit_auc_interval(tr, se_tr, tr_set.n_pos[col_tr], tr_set.n_neg[col_tr], level)
        else:
            rtr, rev = tr_set.reps[metric][:, col_tr], ev_set.reps[metric][:, col_ev]
            gap_low, gap_high = percentile_interval(sign * (rtr - rev), level)
            tr_low, tr_high = percentile_interval(rtr, level)
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
    methods = {m: FIT_METHODS["roc_auc" if m == "roc_auc" else "count"] for m in metrics} if n_boot else {}
    return FitDiagnostics(table=pd.DataFrame(rows), max_gap=float(max_gap), min_train=min_train, level=level,
                          methods=methods)


class _SetValues:
    """One dataset's metrics per group column (overall first, in :func:`evalkit.stats.group_codes`' order): the
    values, the count metrics' bootstrap replicates of its cells, and each ROC AUC's DeLong standard error."""

    def __init__(self, y: np.ndarray, score: np.ndarray, threshold: float, sensitive: pd.DataFrame,
                 metrics: Sequence[str], n_boot: int, seed: Sequence[int]) -> None:
        y = np.asarray(y).astype(bool)
        codes, self.index = group_codes(group_columns(sensitive, intersections=False) if sensitive.shape[1] else {})
        cells = JointCells({**{f"group:{f}": c for f, c in codes.items()}, "y": y, "pred": score >= threshold})
        member = cells.member({f: f"group:{f}" for f in codes}, self.index)
        yc, pc = cells.of_cell["y"].astype(bool), cells.of_cell["pred"].astype(bool)
        self.n = cells.counts @ member
        self.n_pos = (cells.counts * yc) @ member
        self.n_neg = self.n - self.n_pos
        counted = [m for m in metrics if m != "roc_auc"]
        self.point = {m: v[0] for m, v in count_metrics_by_columns(counted, yc, pc, member,
                                                                   cells.counts[None, :]).items()}
        self.reps = count_metrics_by_columns(counted, yc, pc, member, cells.draws(n_boot, seed)) if n_boot else {}
        self.auc_se = np.full(len(self.index), np.nan)
        if "roc_auc" in metrics:
            order = np.argsort(score, kind="stable")
            ys, ss = y[order], np.asarray(score, dtype=np.float64)[order]
            auc = np.full(len(self.index), np.nan)
            auc[0], self.auc_se[0] = auc_and_se(ys, ss)
            k = 1  # group columns follow the features' codes 1, 2, … in order
            for code in codes.values():
                in_order = code[order]
                for j in range(1, int(in_order.max(initial=0)) + 1):
                    rows = in_order == j
                    auc[k], self.auc_se[k] = auc_and_se(ys[rows], ss[rows])
                    k += 1
            self.point["roc_auc"] = auc


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
