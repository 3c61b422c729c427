"""Confidence intervals for every overall and per-group metric and every disparity, and which group
differences survive a Benjamini-Hochberg correction.

The replicates come from :func:`evalkit.bootstrap.bootstrap` (one Poisson bootstrap shared by all
metrics, groups and disparities, so a disparity's interval accounts for both groups' noise).

Multiple comparisons: each group is compared with its feature's reference group on every disparity
metric. The question asked of each comparison is "is the difference larger than ``tolerance``?"
(null hypothesis ``|difference| <= tolerance``), with the p-value ``1 - Phi((|d| - tolerance) / se)``
where ``se`` is the bootstrap standard error of the difference. The p-values of all comparisons are
adjusted together with Benjamini-Hochberg; a difference *survives* when its adjusted p-value is at most
``fdr``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..settings import CI_LEVEL, FDR, Resampling, TOLERANCE
from ._bootstrap import CountMetric, Replicates, bootstrap, group_interval_frames, shifted_interval
from ._methods import disparity_interval, disparity_methods, interval_methods


@dataclass
class Uncertainty:
    """Intervals and multiple-comparison results of one evaluation.

    Attributes
    ----------
    level : float
        Confidence level of every interval (e.g. 0.95).
    n_boot, seed : int
    exact_bins : bool
        True when every distinct score had its own bin (see :mod:`evalkit.bootstrap`).
    overall : DataFrame
        Index: metric; columns ``value``, ``ci_low``, ``ci_high``.
    by_group : DataFrame
        Index ``(feature, group)``; columns ``(metric, "ci_low" | "ci_high")``.
    disparities : DataFrame
        Index ``(feature, metric)``; columns ``difference_ci_low``, ``difference_ci_high``,
        ``ratio_ci_low``, ``ratio_ci_high``.
    reference : DataFrame
        :func:`evalkit.fairness.reference_disparities` plus ``difference_ci_low``,
        ``difference_ci_high``, ``ratio_ci_low``, ``ratio_ci_high``, ``se``, ``p_value``,
        ``p_adjusted``, ``significant``.
    tolerance, fdr : float
    methods : dict of str to str
        The interval method of each metric, per group and overall (``wilson``, ``delong-logit``,
        ``percentile``; see :mod:`evalkit.stats._methods`).
    disparity_methods : dict of str to str
        The method of each metric's max - min and min / max intervals (``simultaneous-wilson`` or
        ``percentile``). Differences to a reference group are always ``percentile``.
    """

    level: float
    n_boot: int
    seed: int
    exact_bins: bool
    overall: pd.DataFrame
    by_group: pd.DataFrame
    disparities: pd.DataFrame
    reference: pd.DataFrame
    tolerance: float
    fdr: float
    methods: dict[str, str] = field(default_factory=dict)
    disparity_methods: dict[str, str] = field(default_factory=dict)

    def interval(self, feature: str | None, group: str | None, metric: str) -> tuple[float, float]:
        """``(ci_low, ci_high)`` of one metric, overall (``feature=None``) or for one group; NaN for a
        metric without intervals (a custom function metric)."""
        if feature is None:
            if metric not in self.overall.index:
                return math.nan, math.nan
            row = self.overall.loc[metric]
            return float(row["ci_low"]), float(row["ci_high"])
        if (metric, "ci_low") not in self.by_group.columns:
            return math.nan, math.nan
        row = self.by_group.loc[(feature, group), metric]
        return float(row["ci_low"]), float(row["ci_high"])


def benjamini_hochberg(p_values: npt.ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN entries stay NaN and are not counted as tests).

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    order = np.argsort(q)
    ranked = q[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    out[ok] = result
    return out


def tolerance_p_value(difference: float, se: float, tolerance: float) -> float:
    """p-value of "``|difference|`` exceeds ``tolerance``" under a normal approximation.

    Examples
    --------
    >>> round(tolerance_p_value(0.1, 0.02, 0.05), 4)
    0.0062
    """
    if math.isnan(difference) or math.isnan(se):
        return math.nan
    excess = abs(difference) - tolerance
    if se <= 0:
        return 0.0 if excess > 0 else 1.0
    return 0.5 * math.erfc(excess / se / math.sqrt(2))


def _between_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max - min and min / max over axis 1, NaN with fewer than two defined groups."""
    defined = np.sum(~np.isnan(values), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hi, lo = np.nanmax(values, axis=1), np.nanmin(values, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hi != 0, lo / hi, np.nan)
    return np.where(defined >= 2, hi - lo, np.nan), np.where(defined >= 2, ratio, np.nan)


def _shift(replicates: np.ndarray, exact: float, binned: float, level: float) -> tuple[float, float]:
    """:func:`~evalkit.bootstrap.shifted_interval` of one value."""
    low, high = shifted_interval(replicates, np.float64(exact), np.float64(binned), level)
    return float(low), float(high)


def _disparity_intervals(reps: Replicates, by_group: pd.DataFrame, disparities: pd.DataFrame,
                         min_group_size: int, level: float) -> pd.DataFrame:
    cols = ["difference_ci_low", "difference_ci_high", "ratio_ci_low", "ratio_ci_high"]
    data = np.full((len(disparities), 4), np.nan)
    for i, ((feature, metric), row) in enumerate(disparities.iterrows()):
        if metric not in reps.metrics or feature not in reps.values:
            continue
        j = reps.metrics.index(metric)
        eligible = (by_group.loc[feature, "n"] >= min_group_size).to_numpy()
        closed = disparity_interval(reps, feature, metric, eligible, level)
        if closed is not None:
            data[i] = closed
            continue
        diff, ratio = _between_groups(reps.values[feature][:, eligible, j])
        b_diff, b_ratio = _between_groups(reps.binned[feature][None, eligible, j])
        data[i, :2] = _shift(diff, row["difference"], b_diff[0], level)
        data[i, 2:] = _shift(ratio, row["ratio"], b_ratio[0], level)
    return pd.DataFrame(data, index=disparities.index, columns=cols)


def _reference_intervals(reps: Replicates, by_group: pd.DataFrame, reference: pd.DataFrame, level: float,
                         tolerance: float, fdr: float) -> pd.DataFrame:
    cols = ["difference_ci_low", "difference_ci_high", "ratio_ci_low", "ratio_ci_high", "se", "p_value"]
    data = np.full((len(reference), len(cols)), np.nan)
    positions = {f: {g: k for k, g in enumerate(by_group.loc[f].index)} for f in reps.values if f != "overall"}
    # the rows of each feature together: one (replicates x rows) array per feature instead of one interval per row
    rows: dict[str, list[tuple[int, int, int, int]]] = {}
    keys = reference.index.tolist()
    references = reference["reference"].tolist()
    for i, ((feature, metric, group), ref_group) in enumerate(zip(keys, references, strict=True)):
        if metric in reps.metrics and feature in positions:
            at = positions[feature]
            rows.setdefault(feature, []).append((i, reps.metrics.index(metric), at[group], at[ref_group]))
    exact_diff, exact_ratio = reference["difference"].to_numpy(np.float64), reference["ratio"].to_numpy(np.float64)
    for feature, chosen in rows.items():
        i, j, g, r = (np.array(c) for c in zip(*chosen, strict=True))
        v, ref = reps.values[feature][:, g, j], reps.values[feature][:, r, j]
        bv, bref = reps.binned[feature][g, j], reps.binned[feature][r, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(ref != 0, v / ref, np.nan)
            b_ratio = np.where(bref != 0, bv / np.where(bref != 0, bref, 1), np.nan)
        diff = v - ref
        data[i, 0], data[i, 1] = shifted_interval(diff, exact_diff[i], bv - bref, level)
        data[i, 2], data[i, 3] = shifted_interval(ratio, exact_ratio[i], b_ratio, level)
        for k, column in zip(i, np.ascontiguousarray(diff.T), strict=True):
            defined = column[~np.isnan(column)]
            se = float(np.std(defined, ddof=1)) if defined.size >= max(2, column.size / 2) else math.nan
            data[k, 4] = se
            data[k, 5] = tolerance_p_value(exact_diff[k], se, tolerance)
    out = reference.copy()
    for k, c in enumerate(cols):
        out[c] = data[:, k]
    out["p_adjusted"] = benjamini_hochberg(data[:, 5])
    out["significant"] = out["p_adjusted"].to_numpy() <= fdr
    return out


def estimate_uncertainty(
    y_true: np.ndarray,
    y_score: np.ndarray,
    groupings: Mapping[str, np.ndarray],
    *,
    by_group: pd.DataFrame,
    overall: Mapping[str, float],
    disparities: pd.DataFrame,
    reference: pd.DataFrame,
    threshold: float,
    min_group_size: int,
    resampling: Resampling = Resampling(),
    sample_weight: np.ndarray | None = None,
    extra: Mapping[str, CountMetric] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Uncertainty:
    """Bootstrap intervals for an evaluation's tables, and the Benjamini-Hochberg survivors.

    Parameters
    ----------
    y_true, y_score : ndarray
    groupings : dict of str to ndarray of int
        Group code of every sample per feature, codes in the (sorted) order of ``by_group``.
    by_group, overall, disparities, reference : the exact tables
        From :func:`evalkit.fairness.metrics_by_group`, :func:`evalkit.metrics.binary_metrics`,
        :func:`evalkit.fairness.disparities` and :func:`evalkit.fairness.reference_disparities`.
    threshold : float
    min_group_size : int
    resampling : Resampling, optional
        Bootstrap size, level and seed, and the correction's tolerance and FDR (default: evalkit's defaults).
    sample_weight : ndarray, optional
    extra : dict, optional
        Count-based custom metrics (they get intervals too).
    progress : callable, optional
        ``progress(done, resampling.n_boot)``.

    Returns
    -------
    Uncertainty
    """
    reps = bootstrap(y_true, y_score, groupings, threshold=threshold, n_boot=resampling.n_boot, seed=resampling.seed,
                     sample_weight=sample_weight, extra=extra, progress=progress)
    return uncertainty_from_replicates(reps, by_group=by_group, overall=overall, disparities=disparities,
                                       reference=reference, min_group_size=min_group_size, level=resampling.level,
                                       tolerance=resampling.tolerance, fdr=resampling.fdr)


def uncertainty_from_replicates(reps: Replicates, *, by_group: pd.DataFrame, overall: Mapping[str, float],
                                disparities: pd.DataFrame, reference: pd.DataFrame, min_group_size: int,
                                level: float = CI_LEVEL, tolerance: float = TOLERANCE, fdr: float = FDR) -> Uncertainty:
    """:func:`estimate_uncertainty`'s tables from replicates already drawn (see
    :func:`evalkit.bootstrap.bootstrap_histogram`)."""
    groups_ci, overall_ci = group_interval_frames(reps, by_group, overall, level)
    return Uncertainty(
        level=level,
        n_boot=reps.n_boot,
        seed=reps.seed,
        exact_bins=reps.exact,
        overall=overall_ci,
        by_group=groups_ci,
        disparities=_disparity_intervals(reps, by_group, disparities, min_group_size, level),
        reference=_reference_intervals(reps, by_group, reference, level, tolerance, fdr),
        tolerance=tolerance,
        fdr=fdr,
        methods=interval_methods(reps),
        disparity_methods=disparity_methods(reps),
    )
