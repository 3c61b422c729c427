"""Which interval each metric gets, and the closed-form intervals that replace the bootstrap where it does
not keep its level.

The coverage simulation (``tests/unit/stats/test_coverage.py``; 500 data sets per cell in ``make bench``)
measured the Poisson-bootstrap percentile interval at 90 % for a recall and 91.6 % for a ROC AUC in groups
of 30 samples, and at about 0 % for the max - min disparity when the groups are equal (the resampled
max - min is biased upward). So, for unweighted counts:

=====================  ==================================================================================
metric                 interval
=====================  ==================================================================================
proportions            ``wilson``: Wilson score interval of the group's counts (prevalence, selection rate,
                       accuracy, precision, recall, FPR, FNR)
``roc_auc``            ``delong-logit``: DeLong standard error, interval on the logit scale (stays inside
                       [0, 1]); a Hanley-McNeil score interval where DeLong's variance is 0 (a group
                       separated perfectly)
everything else        ``percentile``: Poisson bootstrap percentile interval (F1, average precision, EER,
                       FNMR at FMR, custom count metrics)
max - min, min / max   ``simultaneous-wilson`` for proportions: Bonferroni-Wilson bounds over the groups
                       (:func:`evalkit.stats.max_min_interval`), Newcombe's interval for the difference of
                       two groups; ``percentile`` otherwise
=====================  ==================================================================================

With sample weights (a weighted balance) counts are not binomial, and every interval stays ``percentile``.
The in-memory and the out-of-core engines both reach these through
:func:`evalkit.stats.uncertainty_from_replicates`, so they switch together.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ._binomial import max_min_interval, newcombe_difference, simultaneous_wilson, wilson


class Replicates(Protocol):
    """What these functions read of :class:`evalkit.stats.Replicates` (which imports this module)."""

    binned: dict[str, np.ndarray]
    metrics: list[str]
    weighted: bool
    auc_se: dict[str, np.ndarray] | None

#: Per-group proportions: metric -> (numerator counts, denominator counts).
PROPORTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "prevalence": (("tp", "fn"), ("tp", "fp", "tn", "fn")),
    "selection_rate": (("tp", "fp"), ("tp", "fp", "tn", "fn")),
    "accuracy": (("tp", "tn"), ("tp", "fp", "tn", "fn")),
    "precision": (("tp",), ("tp", "fp")),
    "recall": (("tp",), ("tp", "fn")),
    "fpr": (("fp",), ("fp", "tn")),
    "fnr": (("fn",), ("tp", "fn")),
}

#: What each interval method is, as the report states it.
METHOD_TEXT: dict[str, str] = {
    "wilson": "Wilson score interval of the group's counts",
    "delong-logit": "DeLong standard error on the logit scale (a Hanley-McNeil score interval where a group "
                    "is separated perfectly)",
    "percentile": "Poisson bootstrap percentile interval",
    "simultaneous-wilson": "Bonferroni-Wilson bounds over the groups (every group's interval at level "
                           "1 - (1 - level) / groups; Newcombe's interval for a difference of two groups)",
}


def interval_methods(reps: Replicates) -> dict[str, str]:
    """The interval method of every metric of ``reps``, per group and overall (see the module table).

    Examples
    --------
    >>> import numpy as np
    >>> from evalkit.stats import bootstrap
    >>> y, s = np.array([0, 1, 0, 1]), np.array([0.1, 0.8, 0.3, 0.6])
    >>> m = interval_methods(bootstrap(y, s, {"g": np.zeros(4, int)}, threshold=0.5, n_boot=10))
    >>> m["recall"], m["roc_auc"], m["f1"]
    ('wilson', 'delong-logit', 'percentile')
    """
    if reps.weighted:
        return dict.fromkeys(reps.metrics, "percentile")
    return {m: "wilson" if m in PROPORTIONS else
            "delong-logit" if m == "roc_auc" and reps.auc_se is not None else "percentile"
            for m in reps.metrics}


def disparity_methods(reps: Replicates) -> dict[str, str]:
    """The interval method of every metric's max - min difference and min / max ratio."""
    if reps.weighted:
        return dict.fromkeys(reps.metrics, "percentile")
    return {m: "simultaneous-wilson" if m in PROPORTIONS else "percentile" for m in reps.metrics}


def proportion_counts(reps: Replicates, grouping: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(k, n)`` of ``metric`` for every group of ``grouping``, from the full data's confusion counts
    (exact: the threshold is a bin edge)."""
    num, den = PROPORTIONS[metric]
    col = _confusion(reps, grouping)
    return sum(col[c] for c in num), sum(col[c] for c in den)


def _confusion(reps: Replicates, grouping: str) -> dict[str, np.ndarray]:
    """``tp``, ``fp``, ``tn``, ``fn`` of every group of ``grouping`` on the full data."""
    b = reps.binned[grouping]
    return {c: b[:, reps.metrics.index(c)] for c in ("tp", "fp", "tn", "fn")}


def hanley_mcneil_se(auc: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray) -> np.ndarray:
    """Hanley & McNeil's (1982) standard error of an AUC from its value and the class counts.

    Examples
    --------
    >>> round(float(hanley_mcneil_se(np.array(0.8), np.array(20), np.array(30))), 5)
    0.06744
    """
    a = np.asarray(auc, dtype=np.float64)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return np.sqrt(np.maximum(var, 0.0))


def hanley_mcneil_score_interval(auc: float, n_pos: float, n_neg: float, level: float) -> tuple[float, float]:
    """Score-type interval of an AUC: the ``t`` with ``(auc - t)^2 <= z^2 V(t)``, ``V`` Hanley-McNeil's
    variance at ``t`` (Newcombe 2006, the Wilson idea applied to the Mann-Whitney AUC). Used where the
    observed AUC is 0 or 1 or its DeLong variance is 0, where every Wald-type interval collapses to a point.

    Examples
    --------
    >>> low, high = hanley_mcneil_score_interval(1.0, 9, 21, 0.95)  # 9 positives above 21 negatives
    >>> round(low, 4), high
    (0.8142, 1.0)
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    z2 = norm.ppf(1 - (1 - level) / 2) ** 2

    def gap(t: float) -> float:
        return float((auc - t) ** 2 - z2 * hanley_mcneil_se(np.array(t), n_pos, n_neg) ** 2)

    eps = 1e-12
    inner = min(max(auc, 1e-9), 1 - 1e-9)  # gap < 0 there: V > 0 inside (0, 1)
    low = brentq(gap, eps, inner) if auc > eps and gap(eps) > 0 else 0.0
    high = brentq(gap, inner, 1 - eps) if auc < 1 - eps and gap(1 - eps) > 0 else 1.0
    return float(min(low, auc)), float(max(high, auc))


def logit_auc_interval(auc: np.ndarray, se: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray,
                       level: float) -> tuple[np.ndarray, np.ndarray]:
    """Interval ``expit(logit(A) +- z se / (A (1 - A)))`` of an AUC ``A`` with standard error ``se``.

    Where ``A`` is 0 or 1 or ``se`` is 0 (every positive above every negative, common in small groups), the
    logit is undefined and the error is 0: :func:`hanley_mcneil_score_interval` is used there instead, so a
    perfect separation in 9 x 21 pairs gives [0.81, 1], not [1, 1]. NaN where ``se`` is NaN.

    Examples
    --------
    >>> low, high = logit_auc_interval(np.array([0.8]), np.array([0.05]), np.array([50]), np.array([50]), 0.95)
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.6843, 0.8807)
    """
    from scipy.stats import norm

    a, se = np.atleast_1d(np.asarray(auc, dtype=np.float64)), np.atleast_1d(np.asarray(se, dtype=np.float64))
    n_pos = np.broadcast_to(np.asarray(n_pos, dtype=np.float64), a.shape)
    n_neg = np.broadcast_to(np.asarray(n_neg, dtype=np.float64), a.shape)
    z = norm.ppf(1 - (1 - level) / 2)
    low, high = np.full(a.shape, np.nan), np.full(a.shape, np.nan)
    for i in range(a.size):
        if np.isnan(a[i]) or np.isnan(se[i]):
            continue
        if a[i] <= 0 or a[i] >= 1 or se[i] <= 0:
            low[i], high[i] = hanley_mcneil_score_interval(float(a[i]), n_pos[i], n_neg[i], level)
            continue
        centre, width = np.log(a[i] / (1 - a[i])), z * se[i] / (a[i] * (1 - a[i]))
        low[i], high[i] = 1 / (1 + np.exp(width - centre)), 1 / (1 + np.exp(-centre - width))
    return low, high


def closed_form_intervals(reps: Replicates, grouping: str, exact: np.ndarray, low: np.ndarray, high: np.ndarray,
                          level: float) -> None:
    """Replace, in place, the bootstrap intervals ``low``/``high`` (shape (groups, metrics)) of the metrics
    whose method is not ``percentile`` (see :func:`interval_methods`); ``exact`` holds the exact values."""
    for j, (metric, method) in enumerate(interval_methods(reps).items()):
        if method == "wilson":
            k, n = proportion_counts(reps, grouping, metric)
            low[:, j], high[:, j] = wilson(k, n, level)
        elif method == "delong-logit":
            col = _confusion(reps, grouping)
            low[:, j], high[:, j] = logit_auc_interval(exact[:, j], reps.auc_se[grouping],  # type: ignore[index]
                                                       col["tp"] + col["fn"], col["fp"] + col["tn"], level)


def min_max_ratio_interval(k: np.ndarray, n: np.ndarray, level: float) -> tuple[float, float]:
    """Interval for the ratio of the smallest to the largest proportion (min / max) from the same
    simultaneous Bonferroni-Wilson intervals as :func:`evalkit.stats.max_min_interval`.

    Examples
    --------
    >>> low, high = min_max_ratio_interval(np.array([30, 30]), np.array([100, 100]), 0.95)
    >>> round(low, 3), high
    (0.509, 1.0)
    """
    bounds = simultaneous_wilson(k, n, level)
    if bounds is None:
        return float("nan"), float("nan")
    lo, hi = bounds
    top = hi.max()
    ratio_low = lo.min() / top if top > 0 else float("nan")
    ratio_high = min(1.0, hi.min() / lo.max()) if lo.max() > 0 else 1.0
    return float(ratio_low), float(ratio_high)


def disparity_interval(reps: Replicates, grouping: str, metric: str, eligible: np.ndarray,
                       level: float) -> tuple[float, float, float, float] | None:
    """Simultaneous-Wilson ``(difference_low, difference_high, ratio_low, ratio_high)`` of ``metric``'s
    max - min over the ``eligible`` groups, or None when its method is ``percentile``."""
    if disparity_methods(reps).get(metric) != "simultaneous-wilson":
        return None
    k, n = proportion_counts(reps, grouping, metric)
    k, n = k[eligible], n[eligible]
    if int(np.sum(n > 0)) == 2:
        d_low, d_high = absolute_difference_interval(k[n > 0], n[n > 0], level)
    else:
        d_low, d_high = max_min_interval(k, n, level)
    r_low, r_high = min_max_ratio_interval(k, n, level)
    return d_low, d_high, r_low, r_high


def absolute_difference_interval(k: np.ndarray, n: np.ndarray, level: float) -> tuple[float, float]:
    """Interval for ``|k[0]/n[0] - k[1]/n[1]|`` of two groups from Newcombe's interval ``(L, U)`` of the
    signed difference: ``[L, U]`` covers it, so ``[0 if L <= 0 <= U else min(|L|, |U|), max(|L|, |U|)]``
    covers its absolute value, at the same level and narrower than two Bonferroni-Wilson intervals.

    Examples
    --------
    >>> low, high = absolute_difference_interval(np.array([48, 56]), np.array([80, 70]), 0.95)
    >>> round(low, 4), round(high, 4)
    (0.0524, 0.3339)
    """
    lo, hi = newcombe_difference(k[0], n[0], k[1], n[1], level)
    lo, hi = float(lo), float(hi)
    if lo <= 0 <= hi:
        return 0.0, max(-lo, hi)
    return min(abs(lo), abs(hi)), max(abs(lo), abs(hi))
