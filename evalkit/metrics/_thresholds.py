"""Operating points: choosing the decision threshold by a stated rule, overall and per group.

A rule is a short string, as given to ``make report THRESHOLD_RULE=...`` or ``--threshold-rule``:

``fixed``
    The given threshold (default 0.5).
``eer``
    The equal-error-rate point (see :func:`evalkit.metrics.eer_threshold`).
``fpr=<target>``
    The most accepting threshold whose false positive rate (false match rate) is at most ``target``.
``recall=<target>``
    The least accepting threshold whose recall (true positive rate) is at least ``target``.
``cost``
    The threshold minimising ``cost_fp * FP + cost_fn * FN`` (ties: the least accepting one).

Thresholds are taken among the distinct scores (a sample is positive when ``score >= threshold``);
"accept nothing" is the threshold just above the highest score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..settings import parse_rule
from ._binary import _as_binary, _as_scores, _clf_curve, check_sample_weight, eer_threshold, grouped_descending

#: The rule names, in documentation order.
RULES = ("fixed", "eer", "fpr", "recall", "cost")


@dataclass(frozen=True)
class OperatingPoint:
    """A chosen decision threshold and the rule that produced it.

    Attributes
    ----------
    rule : str
        The rule as given (e.g. ``"fpr=0.01"``).
    threshold : float
    description : str
        One sentence for the report, e.g. "the most accepting threshold with FPR <= 0.01".
    """

    rule: str
    threshold: float
    description: str


def _curve(y_true: npt.ArrayLike, y_score: npt.ArrayLike, sample_weight: npt.ArrayLike | None, pos_label):
    y = _as_binary(y_true, pos_label)
    s = _as_scores(y_score, y.size)
    w = check_sample_weight(sample_weight, y.size)
    order = np.argsort(-s, kind="stable")
    fps, tps, thr = _clf_curve(y[order], s[order], None if w is None else w[order])
    return fps, tps, thr, y, s


def _above_max(scores: np.ndarray) -> float:
    return float(np.nextafter(scores.max(), np.inf)) if scores.size else math.inf


def threshold_for_fpr(y_true: npt.ArrayLike, y_score: npt.ArrayLike, target: float, *,
                      sample_weight: npt.ArrayLike | None = None, pos_label: int | str = 1) -> float:
    """The most accepting threshold whose false positive rate is at most ``target``.

    Returns the threshold just above the highest score when even the top score exceeds the target, and
    NaN when there are no negatives.

    Examples
    --------
    >>> threshold_for_fpr([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.7, 0.9], 0.25)
    0.7
    """
    fps, _, thr, _, s = _curve(y_true, y_score, sample_weight, pos_label)
    return _fpr_threshold(fps, thr, _above_max(s), target)


def _fpr_threshold(fps: np.ndarray, thr: np.ndarray, above: float, target: float) -> float:
    """:func:`threshold_for_fpr` from the curve's cumulative false positives and thresholds; ``above`` is the
    "accept nothing" threshold."""
    if fps[-1] <= 0:
        return math.nan
    ok = np.flatnonzero(fps / fps[-1] <= target * (1 + 1e-12))
    return float(thr[ok[-1]]) if ok.size else above


def _recall_threshold(tps: np.ndarray, thr: np.ndarray, target: float) -> float:
    """:func:`threshold_for_recall` from the curve's cumulative true positives and thresholds."""
    if tps[-1] <= 0:
        return math.nan
    return float(thr[int(np.argmax(tps / tps[-1] >= target * (1 - 1e-12)))])


def _cost_index(fps: np.ndarray, tps: np.ndarray, cost_fp: float, cost_fn: float) -> int:
    """Index of the cheapest curve point, 0 being "accept nothing" and ``i`` the threshold ``thr[i - 1]``."""
    costs = np.r_[cost_fn * tps[-1], cost_fp * fps + cost_fn * (tps[-1] - tps)]
    return int(np.argmin(costs))


def _check_costs(cost_fp: float, cost_fn: float) -> None:
    for name, c in (("cost_fp", cost_fp), ("cost_fn", cost_fn)):
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {c!r}")


def threshold_for_recall(y_true: npt.ArrayLike, y_score: npt.ArrayLike, target: float, *,
                         sample_weight: npt.ArrayLike | None = None, pos_label: int | str = 1) -> float:
    """The least accepting threshold whose recall is at least ``target`` (NaN with no positives).

    Examples
    --------
    >>> threshold_for_recall([0, 1, 0, 1], [0.1, 0.4, 0.35, 0.8], 0.5)
    0.8
    """
    _, tps, thr, _, _ = _curve(y_true, y_score, sample_weight, pos_label)
    return _recall_threshold(tps, thr, target)


def cost_threshold(y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, cost_fp: float, cost_fn: float,
                   sample_weight: npt.ArrayLike | None = None, pos_label: int | str = 1) -> float:
    """The threshold minimising ``cost_fp * FP + cost_fn * FN`` (ties: the least accepting threshold).

    Examples
    --------
    >>> cost_threshold([0, 1, 0, 1], [0.1, 0.4, 0.35, 0.8], cost_fp=1, cost_fn=10)
    0.4
    """
    _check_costs(cost_fp, cost_fn)
    fps, tps, thr, _, s = _curve(y_true, y_score, sample_weight, pos_label)
    i = _cost_index(fps, tps, cost_fp, cost_fn)
    return _above_max(s) if i == 0 else float(thr[i - 1])


def choose_threshold(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    rule: str = "fixed",
    *,
    threshold: float = 0.5,
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
    sample_weight: npt.ArrayLike | None = None,
    pos_label: int | str = 1,
) -> OperatingPoint:
    """Apply a threshold rule (see the module docstring) to the evaluation data.

    Parameters
    ----------
    y_true, y_score : array-like of shape (n_samples,)
    rule : str, default="fixed"
    threshold : float, default=0.5
        Used by ``fixed``.
    cost_fp, cost_fn : float, default=1.0
        Used by ``cost``.
    sample_weight : array-like, optional
    pos_label : int or str, default=1

    Returns
    -------
    OperatingPoint

    Raises
    ------
    ValueError
        For an unknown rule, or when the data cannot give the threshold (e.g. ``eer`` with one class).
    """
    name, target = parse_rule(rule)
    if name == "fixed":
        return OperatingPoint(rule, float(threshold), f"fixed at {threshold:g}")
    if name == "eer":
        if sample_weight is not None:
            from ._binary import binary_metrics

            t = binary_metrics(y_true, y_score, sample_weight=sample_weight, pos_label=pos_label)["eer_threshold"]
        else:
            t = eer_threshold(y_true, y_score, pos_label=pos_label)
        return OperatingPoint(rule, t, "the equal error rate point (interpolated where FPR = FNR)")
    if name == "cost":
        t = cost_threshold(y_true, y_score, cost_fp=cost_fp, cost_fn=cost_fn, sample_weight=sample_weight,
                           pos_label=pos_label)
        return OperatingPoint(rule, t, f"minimises {cost_fp:g}·FP + {cost_fn:g}·FN")
    assert target is not None
    if name == "fpr":
        t = threshold_for_fpr(y_true, y_score, target, sample_weight=sample_weight, pos_label=pos_label)
        text = f"the most accepting threshold with FPR (false match rate) ≤ {target:g}"
    else:
        t = threshold_for_recall(y_true, y_score, target, sample_weight=sample_weight, pos_label=pos_label)
        text = f"the least accepting threshold with recall ≥ {target:g}"
    if not math.isfinite(t):
        raise ValueError(f"threshold_rule {rule!r} needs both classes in the evaluation data")
    return OperatingPoint(rule, t, text)


def group_thresholds(
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups: pd.Series,
    *,
    threshold: float,
    target_fpr: float,
    sample_weight: np.ndarray | None = None,
    descending: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per group: FPR and recall at the global threshold, and the threshold the group would need to
    reach ``target_fpr`` with the recall it would then get.

    ``descending`` (``numpy.argsort(-y_score, kind="stable")``, optional) saves the sort when several groupings
    of the same scores are measured: each group's samples are taken in that order by a stable sort of the group
    codes, the order :func:`threshold_for_fpr` sorts each group's samples in.

    Returns
    -------
    DataFrame
        Indexed by group (sorted), columns ``n``, ``fpr``, ``recall``, ``threshold_for_target_fpr``,
        ``recall_at_target_fpr``, ``threshold_shift`` (group threshold minus global threshold).
        NaN where a group lacks the class a value needs.
    """
    from ._binary import group_count_table

    codes, uniques = pd.factorize(groups, sort=True)
    k = len(uniques)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    at_global = group_count_table(y_true, y_score, codes, k, threshold=threshold, sample_weight=sample_weight)
    own = np.full(k, math.nan)
    order = grouped_descending(y_score, codes, k, descending)
    starts = np.r_[0, np.cumsum(np.bincount(codes, minlength=k))]
    y_sorted, s_sorted = y_true[order], y_score[order]
    w_sorted = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[order]
    for g in range(k):
        lo, hi = starts[g], starts[g + 1]
        y = y_sorted[lo:hi]
        if (y == 0).any():  # threshold_for_fpr on the group's samples, already sorted as it would sort them
            fps, _, thr = _clf_curve(y, s_sorted[lo:hi], None if w_sorted is None else w_sorted[lo:hi])
            own[g] = _fpr_threshold(fps, thr, _above_max(s_sorted[lo:hi]), target_fpr)
    finite = np.isfinite(own)
    at_own = group_count_table(y_true, y_score, codes, k, threshold=np.where(finite, own, np.inf)[codes],
                               sample_weight=sample_weight)
    rows = {name: {"n": at_global["n"][g], "fpr": at_global["fpr"][g], "recall": at_global["recall"][g],
                   "threshold_for_target_fpr": own[g],
                   "recall_at_target_fpr": at_own["recall"][g] if finite[g] else math.nan,
                   "threshold_shift": own[g] - threshold}
            for g, name in enumerate(np.asarray(uniques, dtype=object))}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")


def _binned_curve(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative negatives and positives at each non-empty bin, from the highest bin down, and those bins."""
    bins = np.flatnonzero(counts.sum(axis=1) > 0)[::-1]
    return np.cumsum(counts[bins, 0]), np.cumsum(counts[bins, 1]), bins


def _accept_nothing(bins: np.ndarray, edges: np.ndarray, upper: float) -> float:
    """The lower edge of the bin above the highest non-empty one, or ``upper`` past the last bin."""
    top = int(bins[0]) + 1 if bins.size else 0
    return float(edges[top]) if top < edges.size else float(upper)


def _check_binned(counts: npt.ArrayLike, edges: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    c, e = np.asarray(counts, dtype=np.float64), np.asarray(edges, dtype=np.float64)
    if c.ndim < 2 or c.shape[-1] != 2 or c.shape[-2] != e.size:
        raise ValueError(f"counts must have shape (..., {e.size}, 2) (negatives and positives per bin of edges), "
                         f"got {c.shape}")
    if e.size and (np.diff(e) <= 0).any():
        raise ValueError("edges must be strictly increasing lower bin edges")
    if (c < 0).any() or not np.isfinite(c).all():
        raise ValueError("counts must be finite and non-negative")
    return c, e


def choose_threshold_binned(
    counts: npt.ArrayLike,
    edges: npt.ArrayLike,
    rule: str = "fixed",
    *,
    upper: float,
    threshold: float = 0.5,
    cost_fp: float = 1.0,
    cost_fn: float = 1.0,
) -> OperatingPoint:
    """Apply a threshold rule to scores binned on a grid (how the out-of-core engines choose it).

    Every sample counts as scoring its bin's lower edge, and the candidate thresholds are the lower edges of
    the non-empty bins; "accept nothing" is the lower edge of the bin above the highest non-empty one (or
    ``upper`` past the last bin). So the result is :func:`choose_threshold`'s on the scores rounded down to the
    grid (the same threshold for data already on it), and the counts at it, hence every metric at the
    threshold, are exact. ``eer`` takes the edge where FPR and FNR are closest (the least accepting on a tie)
    rather than interpolating between two edges.

    Parameters
    ----------
    counts : array-like of shape (n_bins, 2)
        Negatives and positives per bin (weighted counts allowed).
    edges : array-like of shape (n_bins,)
        The bins' lower edges, increasing.
    rule : str, default="fixed"
        As :func:`choose_threshold`; ``fixed`` returns ``threshold`` unchanged.
    upper : float
        The upper end of the last bin.
    threshold, cost_fp, cost_fn : float
        As :func:`choose_threshold`.

    Returns
    -------
    OperatingPoint
        Its threshold is one of ``edges`` or ``upper`` (except for ``fixed``).

    Raises
    ------
    ValueError
        For malformed counts or edges, an unknown rule, or when the data lack the class the rule needs.

    Examples
    --------
    >>> counts = [[3, 0], [1, 1], [0, 2], [0, 1]]  # negatives, positives in bins [0, .25), [.25, .5) ...
    >>> choose_threshold_binned(counts, [0, 0.25, 0.5, 0.75], "recall=0.75", upper=1.0).threshold
    0.5
    """
    c, e = _check_binned(counts, edges)
    if c.ndim != 2:
        raise ValueError(f"counts must have shape ({e.size}, 2), got {c.shape}")
    name, target = parse_rule(rule)
    if name == "fixed":
        return OperatingPoint(rule, float(threshold), f"fixed at {threshold:g}")
    fps, tps, bins = _binned_curve(c)
    thr, above = e[bins], _accept_nothing(bins, e, upper)
    grid = "on the score grid"
    if name == "cost":
        _check_costs(cost_fp, cost_fn)
        i = _cost_index(fps, tps, cost_fp, cost_fn) if bins.size else 0
        return OperatingPoint(rule, above if i == 0 else float(thr[i - 1]),
                              f"minimises {cost_fp:g}·FP + {cost_fn:g}·FN ({grid})")
    if not bins.size or fps[-1] <= 0 or tps[-1] <= 0:
        raise ValueError(f"threshold_rule {rule!r} needs both classes in the evaluation data")
    if name == "eer":
        gap = np.abs(np.r_[0.0, fps / fps[-1]] - (1.0 - np.r_[0.0, tps / tps[-1]]))
        i = int(np.argmin(gap))
        return OperatingPoint(rule, above if i == 0 else float(thr[i - 1]),
                              f"the equal error rate point ({grid}: the edge where FPR and FNR are closest)")
    assert target is not None
    if name == "fpr":
        return OperatingPoint(rule, _fpr_threshold(fps, thr, above, target),
                              f"the most accepting threshold with FPR (false match rate) ≤ {target:g} ({grid})")
    return OperatingPoint(rule, _recall_threshold(tps, thr, target),
                          f"the least accepting threshold with recall ≥ {target:g} ({grid})")


def group_thresholds_binned(
    counts: npt.ArrayLike,
    edges: npt.ArrayLike,
    groups: Sequence[str],
    *,
    threshold: float,
    target_fpr: float,
    upper: float,
    weights: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """:func:`group_thresholds` from per-group binned counts (the out-of-core engines).

    Each group's threshold for ``target_fpr`` is :func:`choose_threshold_binned`'s ``fpr`` rule on the group's
    counts; ``threshold`` must be one of ``edges`` (or ``upper``) for the counts at it to be exact.

    Parameters
    ----------
    counts : array-like of shape (n_groups, n_bins, 2)
    edges : array-like of shape (n_bins,)
    groups : sequence of str
        The groups' names, in the order of ``counts``.
    threshold, target_fpr, upper : float
    weights : array-like of the shape of ``counts``, optional
        Weighted counts (balancing): the rates and thresholds come from them, ``n`` from ``counts``.

    Returns
    -------
    DataFrame
        As :func:`group_thresholds`.
    """
    n, e = _check_binned(counts, edges)
    if n.ndim != 3 or n.shape[0] != len(groups):
        raise ValueError(f"counts must have shape ({len(groups)}, {e.size}, 2), got {n.shape}")
    c = n if weights is None else _check_binned(weights, edges)[0]
    if c.shape != n.shape:
        raise ValueError(f"weights must have the shape of counts {n.shape}, got {c.shape}")
    at = int(np.searchsorted(e, threshold, side="left"))
    total = c.sum(axis=1)
    accepted = c[:, at:, :].sum(axis=1)
    rows = {}
    for g, name in enumerate(groups):
        neg, pos = total[g]
        own = math.nan
        recall_own = math.nan
        if neg > 0:
            fps, tps, bins = _binned_curve(c[g])
            own = _fpr_threshold(fps, e[bins], _accept_nothing(bins, e, upper), target_fpr)
            if pos > 0:
                recall_own = float(c[g, int(np.searchsorted(e, own, side="left")):, 1].sum() / pos)
        rows[name] = {"n": float(n[g].sum()), "fpr": accepted[g, 0] / neg if neg > 0 else math.nan,
                      "recall": accepted[g, 1] / pos if pos > 0 else math.nan, "threshold_for_target_fpr": own,
                      "recall_at_target_fpr": recall_own, "threshold_shift": own - threshold}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")
