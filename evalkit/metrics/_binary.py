"""Binary classification metrics, vectorised over groups.

The public functions follow scikit-learn's signature ``f(y_true, y_score, *, ...)``. The engine
behind them, :func:`group_metric_table`, computes every built-in metric for many groups at once from
one sort of the scores and per-group counts, so per-group evaluation costs about as much as one
overall evaluation. Tests check every value against scikit-learn and fairlearn.

Undefined values (recall with no positive samples, ROC AUC with one class, ...) are ``NaN`` here and
explained by :func:`undefined_reason`; they are never silently turned into 0.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from ..settings import check_threshold

#: Every built-in metric, in report order. Counts and rates at the decision threshold, then
#: threshold-free ranking metrics, then the equal error rate and the threshold where it occurs.
METRIC_NAMES: Final[tuple[str, ...]] = (
    "n",
    "prevalence",
    "selection_rate",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "fpr",
    "fnr",
    "tp",
    "fp",
    "tn",
    "fn",
    "roc_auc",
    "average_precision",
    "eer",
    "eer_threshold",
    "fnmr_at_fmr_1e-2",
    "fnmr_at_fmr_1e-3",
    "fnmr_at_fmr_1e-4",
)
#: Metrics that are integer counts.
COUNT_METRICS: Final[frozenset[str]] = frozenset({"n", "tp", "fp", "tn", "fn"})
#: Metrics for which a lower value is better (used to find the worst-off group).
LOWER_IS_BETTER: Final[frozenset[str]] = frozenset(
    {"fpr", "fnr", "eer", "fp", "fn", "fnmr_at_fmr_1e-2", "fnmr_at_fmr_1e-3", "fnmr_at_fmr_1e-4"})
#: The false match rates (FPR) at which the false non-match rate (FNR) is reported, by metric name.
FMR_TARGETS: Final[dict[str, float]] = {"fnmr_at_fmr_1e-2": 1e-2, "fnmr_at_fmr_1e-3": 1e-3, "fnmr_at_fmr_1e-4": 1e-4}

_CURVE_METRICS = ("roc_auc", "average_precision", "eer", "eer_threshold", *FMR_TARGETS)


def _as_binary(y_true: npt.ArrayLike, pos_label: int | str) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {y.shape}")
    return (y == pos_label).astype(np.int8)


def _as_scores(y_score: npt.ArrayLike, n: int) -> np.ndarray:
    s = np.asarray(y_score, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"y_score must have shape ({n},) like y_true, got {s.shape}")
    if not np.isfinite(s).all():
        bad = int((~np.isfinite(s)).sum())
        raise ValueError(f"y_score must be finite; found {bad} NaN or infinite values")
    return s


def _clf_curve(
    y_sorted: np.ndarray, s_sorted: np.ndarray, w_sorted: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (weighted) false and true positives at each distinct score, scores sorted descending.

    The same construction as scikit-learn's ``_binary_clf_curve``: entry ``i`` counts samples with
    score >= ``thresholds[i]``.
    """
    distinct = np.flatnonzero(np.diff(s_sorted))
    ends = np.r_[distinct, y_sorted.size - 1]
    if w_sorted is None:
        tps = np.cumsum(y_sorted, dtype=np.float64)[ends]
        fps = 1.0 + ends - tps
    else:
        tps = np.cumsum(y_sorted * w_sorted)[ends]
        fps = np.cumsum((1 - y_sorted) * w_sorted)[ends]
    return fps, tps, s_sorted[ends]


def _fnmr_at_fmr(fpr: np.ndarray, fnr: np.ndarray, neg_count: float) -> list[float]:
    """FNR at the most accepting curve point whose FPR is at most each target in :data:`FMR_TARGETS`.

    NaN when there are fewer than ``1 / target`` negative samples (the FPR cannot resolve the target).
    """
    out = []
    for target in FMR_TARGETS.values():
        if neg_count * target < 1 - 1e-9:
            out.append(float("nan"))
            continue
        i = int(np.searchsorted(fpr, target * (1 + 1e-12), side="right")) - 1  # fpr is non-decreasing
        out.append(float(fnr[i]))
    return out


def _curve_metrics(
    y_sorted: np.ndarray, s_sorted: np.ndarray, w_sorted: np.ndarray | None = None
) -> tuple[float, ...]:
    """ROC AUC, average precision, EER, EER threshold and FNMR at each FMR from one group's sorted samples."""
    fps, tps, thresholds = _clf_curve(y_sorted, s_sorted, w_sorted)
    pos, neg = tps[-1], fps[-1]
    ap = float("nan")
    if pos > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(tps + fps > 0, tps / (tps + fps), 0.0)
        recall_steps = np.diff(np.r_[0.0, tps]) / pos
        ap = float(np.sum(recall_steps * precision))
    nan = float("nan")
    if pos <= 0 or neg <= 0:
        return (nan, ap, nan, nan, *[nan] * len(FMR_TARGETS))
    tpr = np.r_[0.0, tps / pos]
    fpr = np.r_[0.0, fps / neg]
    auc = float(np.trapezoid(tpr, fpr))
    eer, eer_thr = _eer_from_curve(fpr, 1.0 - tpr, np.r_[np.inf, thresholds])
    neg_count = float(np.sum(y_sorted == 0))
    return (auc, ap, eer, eer_thr, *_fnmr_at_fmr(fpr, 1.0 - tpr, neg_count))


def _eer_from_curve(fpr: np.ndarray, fnr: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """Linearly interpolated point where FPR = FNR on a curve ordered by decreasing threshold."""
    d = fpr - fnr  # starts at -1 (nothing accepted), rises to +1 (everything accepted)
    i = int(np.argmax(d >= 0))
    alpha = -d[i - 1] / (d[i] - d[i - 1])
    eer = fpr[i - 1] + alpha * (fpr[i] - fpr[i - 1])
    lo, hi = thresholds[i], thresholds[i - 1]
    thr = lo if not np.isfinite(hi) else hi + alpha * (lo - hi)
    return float(eer), float(thr)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def group_count_table(
    y_true: np.ndarray,
    y_score: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    *,
    threshold: float | np.ndarray,
    sample_weight: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The metrics of :func:`group_metric_table` that the counts at the threshold give (``n`` ... ``fn``; no
    curve metric). Each group's sums run in sample order, so a group's values equal those of its samples alone.

    ``threshold`` is one value, or one per sample (e.g. each group's own: ``thresholds[codes]``).
    """
    y_pred = y_score >= threshold
    n = np.bincount(codes, minlength=n_groups).astype(np.float64)
    w = np.ones(y_true.size) if sample_weight is None else sample_weight
    total = n if sample_weight is None else np.bincount(codes, weights=w, minlength=n_groups)
    pos = np.bincount(codes, weights=w * y_true, minlength=n_groups)
    pred = np.bincount(codes, weights=w * y_pred, minlength=n_groups)
    tp = np.bincount(codes, weights=w * ((y_true == 1) & y_pred), minlength=n_groups)
    fp, fn = pred - tp, pos - tp
    tn = total - tp - fp - fn
    precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, pos)
    return {
        "n": n,
        "prevalence": _safe_div(pos, total),
        "selection_rate": _safe_div(pred, total),
        "accuracy": _safe_div(tp + tn, total),
        "precision": precision,
        "recall": recall,
        "f1": _safe_div(2 * tp, 2 * tp + fp + fn),
        "fpr": _safe_div(fp, fp + tn),
        "fnr": _safe_div(fn, pos),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def grouped_descending(y_score: np.ndarray, codes: np.ndarray, n_groups: int,
                       descending: np.ndarray | None = None) -> np.ndarray:
    """The samples by group, then by descending score, ties in sample order (``np.lexsort((-y_score, codes))``):
    a stable radix sort of the small group codes of ``descending`` (``np.argsort(-y_score, kind="stable")``,
    sorted here when not given, so that several groupings of the same scores share one sort)."""
    if descending is None:
        descending = np.argsort(-np.asarray(y_score, dtype=np.float64), kind="stable")
    small = codes.astype(np.int16) if n_groups < 2**15 else codes
    return descending[np.argsort(small[descending], kind="stable")]


def group_metric_table(
    y_true: np.ndarray,
    y_score: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    *,
    threshold: float,
    sample_weight: np.ndarray | None = None,
    descending: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every metric in :data:`METRIC_NAMES` for each group, in one pass.

    Parameters
    ----------
    y_true : ndarray of int8
        0/1 labels.
    y_score : ndarray of float64
        Finite scores; a sample is predicted positive when ``y_score >= threshold``.
    codes : ndarray of int
        Group index of each sample, in ``range(n_groups)``.
    n_groups : int
        Number of groups.
    threshold : float
        The decision threshold.
    sample_weight : ndarray of float64, optional
        Non-negative weight of each sample. Counts (``tp`` ... ``fn``) and rates are then weighted, as
        scikit-learn's ``sample_weight`` does; ``n`` stays the number of samples.
    descending : ndarray of int, optional
        ``numpy.argsort(-y_score, kind="stable")``, when several groupings of the same scores are measured: each
        then needs only a stable sort of its small group codes (the same order as sorting by group and
        descending score, ties in sample order).

    Returns
    -------
    dict of str to ndarray
        Metric name to an array of length ``n_groups``; undefined values are NaN.
    """
    out = group_count_table(y_true, y_score, codes, n_groups, threshold=threshold, sample_weight=sample_weight)
    n = out["n"]
    curve = np.full((n_groups, len(_CURVE_METRICS)), np.nan)
    order = grouped_descending(y_score, codes, n_groups, descending)
    starts = np.r_[0, np.cumsum(n.astype(np.int64))]
    y_sorted, s_sorted = y_true[order], y_score[order]
    w_sorted = None if sample_weight is None else sample_weight[order]
    for g in range(n_groups):
        lo, hi = starts[g], starts[g + 1]
        if hi > lo:
            curve[g] = _curve_metrics(y_sorted[lo:hi], s_sorted[lo:hi], None if w_sorted is None else w_sorted[lo:hi])
    out.update({name: curve[:, j] for j, name in enumerate(_CURVE_METRICS)})
    return out


def undefined_reason(metric: str, row: dict[str, float]) -> str | None:
    """Why ``metric`` is undefined for a group with counts ``row`` (``None`` if it is defined).

    Parameters
    ----------
    metric : str
        A name from :data:`METRIC_NAMES`.
    row : dict
        At least ``n``, ``tp``, ``fp``, ``tn``, ``fn`` for the group.
    """
    pos, neg = row["tp"] + row["fn"], row["fp"] + row["tn"]
    if row["n"] == 0:
        return "no samples"
    if metric in ("recall", "fnr") and pos == 0:
        return "no positive samples"
    if metric == "average_precision" and pos == 0:
        return "no positive samples"
    if metric == "fpr" and neg == 0:
        return "no negative samples"
    if metric == "precision" and row["tp"] + row["fp"] == 0:
        return "no predicted positives"
    if metric == "f1" and 2 * row["tp"] + row["fp"] + row["fn"] == 0:
        return "no positive samples and no predicted positives"
    if metric in ("roc_auc", "eer", "eer_threshold", *FMR_TARGETS) and (pos == 0 or neg == 0):
        return "only one class present"
    if metric in FMR_TARGETS:
        return f"fewer than {1 / FMR_TARGETS[metric]:,.0f} negative samples: the FMR cannot reach {FMR_TARGETS[metric]:g}"
    return None


def binary_metrics(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    threshold: float = 0.5,
    pos_label: int | str = 1,
    sample_weight: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """All built-in metrics for one set of samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score : array-like of shape (n_samples,)
        Scores, higher meaning more likely positive.
    threshold : float, default=0.5
        Samples with ``y_score >= threshold`` are predicted positive.
    pos_label : int or str, default=1
        The label of the positive class.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative sample weights (counts and rates become weighted; ``n`` stays a count).

    Returns
    -------
    dict of str to float
        One value per name in :data:`METRIC_NAMES`; NaN where undefined (see :func:`undefined_reason`).
        ``fnmr_at_fmr_1e-k`` is the false negative rate at the most accepting threshold whose false
        positive rate is at most ``1e-k`` (NaN with fewer than ``10**k`` negatives).

    Examples
    --------
    >>> m = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5)
    >>> m["tp"], m["fp"], m["recall"], m["roc_auc"]
    (1.0, 1.0, 0.5, 0.75)
    """
    y = _as_binary(y_true, pos_label)
    s = _as_scores(y_score, y.size)
    check_threshold(threshold)
    w = check_sample_weight(sample_weight, y.size)
    table = group_metric_table(y, s, np.zeros(y.size, dtype=np.intp), 1, threshold=threshold, sample_weight=w)
    return {name: float(table[name][0]) for name in METRIC_NAMES}


def check_sample_weight(sample_weight: npt.ArrayLike | None, n: int) -> np.ndarray | None:
    """``sample_weight`` as float64 after checking its shape and that it is finite and non-negative."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) like y_true, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    return w


def equal_error_rate(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, pos_label: int | str = 1
) -> float:
    """Equal error rate: the rate at which false positives and false negatives are equally likely.

    The ROC curve is traced over every distinct score ``t`` (a sample is accepted when
    ``y_score >= t``), starting from "accept nothing" (FPR 0, FNR 1). The EER is the point where
    FPR = FNR, linearly interpolated between the two curve points that straddle it. (This is the
    interpolated definition; the ROC-convex-hull EER can be lower on coarse curves.)

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; both classes must be present.
    y_score : array-like of shape (n_samples,)
        Scores, higher meaning more likely positive.
    pos_label : int or str, default=1
        The label of the positive class.

    Returns
    -------
    float
        The EER in [0, 1]. See :func:`eer_threshold` for where it occurs.

    Raises
    ------
    ValueError
        If only one class is present, or scores are not finite.

    Examples
    --------
    >>> equal_error_rate([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    0.5
    """
    return _eer_point(y_true, y_score, pos_label)[0]


def eer_threshold(y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, pos_label: int | str = 1) -> float:
    """The score threshold at the equal error rate (interpolated like :func:`equal_error_rate`).

    Examples
    --------
    >>> eer_threshold([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    0.3
    """
    return _eer_point(y_true, y_score, pos_label)[1]


def _eer_point(y_true: npt.ArrayLike, y_score: npt.ArrayLike, pos_label: int | str) -> tuple[float, float]:
    y = _as_binary(y_true, pos_label)
    s = _as_scores(y_score, y.size)
    if y.all() or not y.any():
        raise ValueError("the equal error rate needs both classes in y_true; only one is present")
    order = np.argsort(-s, kind="stable")
    _, _, eer, thr, *_ = _curve_metrics(y[order], s[order])
    return eer, thr
