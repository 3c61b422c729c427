"""Bootstrap confidence intervals for every metric, group and disparity, from mergeable counts.

Re-running scikit-learn on every resample and every group costs ``n_boot x groups`` full passes over
the data. evalkit instead reduces the data once to a histogram of counts per *cell* (one cell per
combination of every grouping's group), per score bin and per label. Every grouping (each sensitive
feature, each intersection, and "overall") is a sum of cells, and every built-in metric follows from
such a histogram: confusion counts at the threshold (the threshold is a bin edge), ROC AUC with ties
counted as half, average precision, the EER and FNMR at a given FMR.

The resampling is a *Poisson bootstrap*: each sample is drawn ``Poisson(1)`` times, so a cell-bin
holding ``c`` samples is drawn ``Poisson(c)`` times in total; this is exact for the Poisson bootstrap
and costs one draw per cell-bin instead of one per sample, independent of the number of rows. With
sample weights, a cell-bin's weight is scaled by its draw / its count (exact when the weights within a
cell-bin are equal).

When there are no more distinct scores than ``max_bins``, every distinct score has its own bin and the
resampled metrics are exactly those of the resampled data. Otherwise scores are grouped into quantile
bins (extra bins resolve the top of the negative-score distribution, where FMR 1e-4 lives); then each
interval is shifted by the difference between the exact value and the binned value on the full data,
so point estimates stay exact and intervals stay centred on them.

Intervals are percentile intervals of the replicates that are defined (a resample of a small group may
have no positives); an interval is NaN when fewer than half the replicates are defined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..settings import N_BOOT
from ..metrics import FMR_TARGETS, METRIC_NAMES
from ._methods import closed_form_intervals

#: A metric computed from confusion counts: ``f(tp, fp, tn, fn)`` on arrays, returning an array.
CountMetric = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Histogram:
    """Counts per cell, score bin and label: the sufficient statistics of every built-in metric.

    Attributes
    ----------
    edges : ndarray
        Ascending lower edges; bin ``k`` holds scores in ``[edges[k], edges[k + 1])``.
    threshold_bin : int
        Bins ``>= threshold_bin`` hold the samples predicted positive.
    counts : ndarray of shape (n_cells, n_bins, 2)
        Number of samples; ``[..., 0]`` negatives, ``[..., 1]`` positives.
    weights : ndarray of shape (n_cells, n_bins, 2) or None
        Sum of sample weights (None when unweighted).
    exact : bool
        Every bin holds a single distinct score.
    """

    edges: np.ndarray
    threshold_bin: int
    counts: np.ndarray
    weights: np.ndarray | None
    exact: bool


def _bin_edges(y_true: np.ndarray, y_score: np.ndarray, threshold: float, max_bins: int) -> tuple[np.ndarray, bool]:
    distinct = np.unique(y_score)
    if distinct.size <= max_bins:
        return np.unique(np.r_[distinct, threshold]), True
    edges = np.quantile(y_score, np.linspace(0, 1, max_bins + 1))
    negatives = y_score[y_true == 0]
    if negatives.size:
        tail = 1 - np.geomspace(1e-5, 0.5, max(max_bins // 4, 2))
        edges = np.r_[edges, np.quantile(negatives, tail, method="higher")]
    return np.unique(np.r_[edges, threshold]), False


def histogram(
    y_true: np.ndarray,
    y_score: np.ndarray,
    cells: np.ndarray,
    n_cells: int,
    *,
    threshold: float,
    sample_weight: np.ndarray | None = None,
    max_bins: int = 256,
) -> Histogram:
    """Reduce samples to a :class:`Histogram` (one pass; memory ``n_cells x bins``).

    Parameters
    ----------
    y_true : ndarray of int8
        0/1 labels.
    y_score : ndarray of float64
        Finite scores.
    cells : ndarray of int
        Cell index of every sample, in ``range(n_cells)``.
    n_cells : int
    threshold : float
        Decision threshold (made a bin edge, so counts at the threshold are exact).
    sample_weight : ndarray, optional
    max_bins : int, default=256
        Beyond this many distinct scores, quantile bins are used (see the module docstring).
    """
    edges, exact = _bin_edges(y_true, y_score, threshold, max_bins)
    k = edges.size
    bins = np.searchsorted(edges, y_score, side="right") - 1
    index = (cells.astype(np.int64) * k + bins) * 2 + y_true
    counts = np.bincount(index, minlength=n_cells * k * 2).reshape(n_cells, k, 2).astype(np.float64)
    weights = None
    if sample_weight is not None:
        weights = np.bincount(index, weights=sample_weight, minlength=n_cells * k * 2).reshape(n_cells, k, 2)
    threshold_bin = int(np.searchsorted(edges, threshold, side="left"))
    return Histogram(edges, threshold_bin, counts, weights, exact)


def histogram_metrics(
    weights: np.ndarray,
    counts: np.ndarray,
    edges: np.ndarray,
    threshold_bin: int,
    extra: Mapping[str, CountMetric] | None = None,
) -> dict[str, np.ndarray]:
    """Every metric in :data:`~evalkit.metrics.METRIC_NAMES` from histograms, vectorised.

    Parameters
    ----------
    weights : ndarray of shape (..., n_bins, 2)
        (Weighted) negatives and positives per score bin, bins ascending.
    counts : ndarray of shape (..., n_bins, 2)
        Sample counts (the same array as ``weights`` when unweighted): ``n`` and the FMR data check.
    edges : ndarray of shape (n_bins,)
        Lower bin edges.
    threshold_bin : int
        First bin predicted positive.
    extra : dict of str to callable, optional
        Count-based metrics ``f(tp, fp, tn, fn)`` to compute as well.

    Returns
    -------
    dict of str to ndarray of shape (...)
    """
    w = np.ascontiguousarray(np.moveaxis(weights[..., ::-1, :], -1, -2))
    c = w if counts is weights else np.ascontiguousarray(np.moveaxis(counts[..., ::-1, :], -1, -2))
    return _metrics_desc(w, c, edges[::-1], edges.size - threshold_bin, extra)


def _metrics_desc(
    w: np.ndarray, c: np.ndarray, thresholds: np.ndarray, n_accepted_bins: int,
    extra: Mapping[str, CountMetric] | None,
) -> dict[str, np.ndarray]:
    """:func:`histogram_metrics` on histograms of shape (..., 2, n_bins) in *descending* score order
    (``[..., 0, :]`` negatives, ``[..., 1, :]`` positives), the layout the bootstrap keeps: contiguous
    bins, no reversal per resample. ``thresholds[k]`` is the lower edge of bin ``k``."""
    neg_k, pos_k = w[..., 0, :], w[..., 1, :]
    fps, tps = np.cumsum(neg_k, axis=-1), np.cumsum(pos_k, axis=-1)
    pos, neg = tps[..., -1], fps[..., -1]
    k = thresholds.size
    tp = tps[..., n_accepted_bins - 1] if n_accepted_bins > 0 else np.zeros_like(pos)
    fp = fps[..., n_accepted_bins - 1] if n_accepted_bins > 0 else np.zeros_like(neg)
    fn, tn = pos - tp, neg - fp
    total = pos + neg
    n = c.sum(axis=(-1, -2))
    neg_count = c[..., 0, :].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "n": n,
            "prevalence": _div(pos, total),
            "selection_rate": _div(tp + fp, total),
            "accuracy": _div(tp + tn, total),
            "precision": _div(tp, tp + fp),
            "recall": _div(tp, pos),
            "f1": _div(2 * tp, 2 * tp + fp + fn),
            "fpr": _div(fp, neg),
            "fnr": _div(fn, pos),
            "tp": tp,
            "fp": fp,
            "tn": tn,
            "fn": fn,
        }
        both = (pos > 0) & (neg > 0)
        out["roc_auc"] = np.where(both, _div(np.einsum("...k,...k->...", neg_k, tps - 0.5 * pos_k), pos * neg), np.nan)
        accepted = tps + fps
        precision = tps / np.where(accepted > 0, accepted, 1)
        out["average_precision"] = _div(np.einsum("...k,...k->...", pos_k, precision), pos)
        # The ROC curve has a point before the first bin (accept nothing: FPR 0, FNR 1) and one after
        # each bin; the arrays below hold the points after each bin, the first point is handled apart.
        fpr = fps / neg[..., None]
        fnr = 1 - tps / pos[..., None]
        d = fpr - fnr  # non-decreasing; -1 at the implicit first point
        m = np.minimum(np.sum(d < 0, axis=-1, keepdims=True), k - 1)  # crossing: between point m-1 and m
        before = m - 1  # -1 is the implicit first point
        safe = np.maximum(before, 0)
        d0 = np.where(before < 0, -1.0, np.take_along_axis(d, safe, -1))[..., 0]
        f0 = np.where(before < 0, 0.0, np.take_along_axis(fpr, safe, -1))[..., 0]
        d1, f1 = np.take_along_axis(d, m, -1)[..., 0], np.take_along_axis(fpr, m, -1)[..., 0]
        alpha = -d0 / (d1 - d0)
        # Empty bins repeat the previous curve point, which the exact curve does not have: the EER
        # threshold interpolates from the last non-empty bin before the crossing (or +inf).
        nonempty = c.sum(axis=-2) > 0
        last = np.maximum.accumulate(np.where(nonempty, np.arange(1, k + 1), 0), axis=-1)  # 1-based, 0 = none
        last_before = np.where(before < 0, 0, np.take_along_axis(last, safe, -1))[..., 0]
        with_inf = np.r_[np.inf, thresholds]
        t0, t1 = with_inf[last_before], thresholds[m[..., 0]]
        out["eer"] = np.where(both, f0 + alpha * (f1 - f0), np.nan)
        out["eer_threshold"] = np.where(both, np.where(np.isfinite(t0), t0 + alpha * (t1 - t0), t1), np.nan)
        for name, target in FMR_TARGETS.items():
            j = np.sum(fpr <= target * (1 + 1e-12), axis=-1, keepdims=True)  # points within the target, after the first
            value = np.where(j == 0, 1.0, np.take_along_axis(fnr, np.maximum(j - 1, 0), -1))[..., 0]
            out[name] = np.where(both & (neg_count * target >= 1 - 1e-9), value, np.nan)
        for name, fn_ in (extra or {}).items():
            out[name] = np.asarray(fn_(tp, fp, tn, fn), dtype=np.float64)
    return out


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def combine_codes(groupings: Mapping[str, np.ndarray]) -> tuple[np.ndarray, int, dict[str, np.ndarray]]:
    """Cells: the distinct combinations of every grouping's group code.

    Parameters
    ----------
    groupings : dict of str to ndarray of int
        Group code of every sample, per grouping.

    Returns
    -------
    cells : ndarray of int
        Cell of every sample.
    n_cells : int
    group_of_cell : dict of str to ndarray
        For each grouping, the group code of every cell.
    """
    names = list(groupings)
    key = np.zeros(len(next(iter(groupings.values()))), dtype=np.int64)
    size = 1
    for name in names:
        codes = groupings[name]
        width = int(codes.max()) + 1 if codes.size else 1
        key *= width  # in place: one array of the samples' size, however many groupings
        key += codes
        key, size = _dense(key, size * width)  # keep the key small
    some = np.empty(size, dtype=np.int64)
    some[key] = np.arange(key.size)  # a sample of every cell (which one does not matter: they share every code)
    return key, size, {name: groupings[name][some] for name in names}


def _dense(key: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Renumber keys in ``range(size)`` as ``0..k-1`` in ascending order (``np.unique``'s inverse), by counting
    when ``size`` is small (no sort, in place of ``key``), else by sorting."""
    if size <= 1 << 24:
        present = np.bincount(key, minlength=size) > 0
        lookup = np.cumsum(present, dtype=np.int64) - 1
        return np.take(lookup, key, out=key), int(present.sum())  # in place: ``key`` is overwritten
    uniques, inverse = np.unique(key, return_inverse=True)
    return inverse.astype(np.int64, copy=False), int(uniques.size)


@dataclass
class Replicates:
    """Bootstrap replicates of every metric for every group of every grouping.

    Attributes
    ----------
    values : dict of str to ndarray of shape (n_boot, n_groups, n_metrics)
        Per grouping; the grouping ``"overall"`` has one group.
    binned : dict of str to ndarray of shape (n_groups, n_metrics)
        The same metrics on the full data's histogram (to shift intervals when bins are not exact).
    metrics : list of str
    exact : bool
    n_boot : int
    seed : int
    weighted : bool
        True when the histogram carries sample weights (then counts are not binomial and every interval
        stays a bootstrap interval).
    auc_se : dict of str to ndarray of shape (n_groups,), optional
        DeLong standard error of each group's ROC AUC on the full data's histogram (see :func:`auc_se`).
    """

    values: dict[str, np.ndarray]
    binned: dict[str, np.ndarray]
    metrics: list[str]
    exact: bool
    n_boot: int
    seed: int
    weighted: bool = False
    auc_se: dict[str, np.ndarray] | None = None


def bootstrap(
    y_true: np.ndarray,
    y_score: np.ndarray,
    groupings: Mapping[str, np.ndarray],
    *,
    threshold: float,
    n_boot: int = N_BOOT,
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
    extra: Mapping[str, CountMetric] | None = None,
    max_bins: int = 256,
    batch_bytes: int = 256 * 2**20,
    progress: Callable[[int, int], None] | None = None,
) -> Replicates:
    """Poisson-bootstrap replicates of every built-in (and ``extra``) metric, overall and per group.

    Parameters
    ----------
    y_true, y_score : ndarray
        0/1 labels and finite scores.
    groupings : dict of str to ndarray of int
        Group code (``0..G-1``) of every sample, per grouping (feature or intersection).
    threshold : float
    n_boot : int, default=1000
    seed : int, default=0
        Seeds the resampling: the same seed gives the same intervals.
    sample_weight : ndarray, optional
    extra : dict of str to callable, optional
        Count-based metrics ``f(tp, fp, tn, fn)``.
    max_bins : int, default=256
    batch_bytes : int, default=256 MiB
        Memory bound for one batch of resampled histograms.
    progress : callable, optional
        Called as ``progress(done, n_boot)`` after each batch.

    Returns
    -------
    Replicates
    """
    cells, n_cells, group_of_cell = combine_codes(groupings)
    hist = histogram(y_true, y_score, cells, n_cells, threshold=threshold, sample_weight=sample_weight,
                     max_bins=max_bins)
    sizes = {name: int(codes.max()) + 1 if codes.size else 0 for name, codes in groupings.items()}
    return bootstrap_histogram(hist, group_of_cell, sizes, n_boot=n_boot, seed=seed, extra=extra,
                               batch_bytes=batch_bytes, progress=progress)


def group_onehots(group_of_cell: Mapping[str, np.ndarray], sizes: Mapping[str, int], n_cells: int
                  ) -> dict[str, np.ndarray]:
    """``overall`` and one ``(groups, cells)`` 0/1 matrix per grouping: which cells make up each group."""
    onehots = {"overall": np.ones((1, n_cells))}
    for name, g in group_of_cell.items():
        m = np.zeros((sizes[name], n_cells))
        m[g, np.arange(n_cells)] = 1.0
        onehots[name] = m
    return onehots


def bootstrap_histogram(
    hist: Histogram,
    group_of_cell: Mapping[str, np.ndarray],
    sizes: Mapping[str, int],
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    extra: Mapping[str, CountMetric] | None = None,
    batch_bytes: int = 256 * 2**20,
    progress: Callable[[int, int], None] | None = None,
) -> Replicates:
    """:func:`bootstrap` from an already built histogram (how :mod:`evalkit.scale` bootstraps data it never
    holds in memory).

    Parameters
    ----------
    hist : Histogram
    group_of_cell : dict of str to ndarray of int
        Per grouping, the group code of every cell.
    sizes : dict of str to int
        Per grouping, the number of groups.
    n_boot, seed, extra, batch_bytes, progress
        As for :func:`bootstrap`.
    """
    n_cells = hist.counts.shape[0]
    metrics = list(METRIC_NAMES) + list(extra or {})
    onehots = group_onehots(group_of_cell, sizes, n_cells)

    # Descending, bins-last layout (cells, 2, bins): contiguous cumulative sums, no reversal per resample.
    counts_d = np.ascontiguousarray(np.moveaxis(hist.counts[:, ::-1, :], -1, -2))
    weights_d = None if hist.weights is None else np.ascontiguousarray(np.moveaxis(hist.weights[:, ::-1, :], -1, -2))
    thresholds = hist.edges[::-1]
    accepted_bins = hist.edges.size - hist.threshold_bin

    def evaluate(weights: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        flat_w = weights.reshape(*weights.shape[:-3], weights.shape[-3], -1)
        flat_c = flat_w if counts is weights else counts.reshape(flat_w.shape)
        for name, m in onehots.items():
            m = m.astype(weights.dtype)
            w = np.matmul(m, flat_w).reshape(*weights.shape[:-3], m.shape[0], 2, -1)
            c = w if counts is weights else np.matmul(m, flat_c).reshape(w.shape)
            table = _metrics_desc(w, c, thresholds, accepted_bins, extra)
            out[name] = np.stack([np.asarray(table[k], dtype=np.float64) for k in metrics], axis=-1)
        return out

    binned = evaluate(counts_d if weights_d is None else weights_d, counts_d)
    rng = np.random.default_rng(seed)
    groups_total = sum(m.shape[0] for m in onehots.values())
    per_rep = counts_d.nbytes + groups_total * counts_d[0].nbytes * 8  # draws + temporaries (float32)
    batch = int(max(1, min(n_boot, batch_bytes // max(per_rep, 1))))
    values: dict[str, list[np.ndarray]] = {name: [] for name in onehots}
    done = 0
    # Resamples in float32: Poisson counts are exact integers there (below 2**24 per bin), sums of
    # them lose at most a few units in the 7th digit, far below the sampling noise being measured.
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = None if weights_d is None else np.where(counts_d > 0, weights_d / np.where(counts_d > 0, counts_d, 1),
                                                        0).astype(np.float32)
    nonzero = np.flatnonzero(counts_d)  # empty cell-bins stay empty: draw only where there are samples
    lam = counts_d.ravel()[nonzero]
    while done < n_boot:
        b = min(batch, n_boot - done)
        draws = np.zeros((b, counts_d.size), dtype=np.float32)
        draws[:, nonzero] = rng.poisson(lam, size=(b, lam.size))
        draws = draws.reshape(b, *counts_d.shape)
        weights = draws if scale is None else draws * scale
        for name, v in evaluate(weights, draws).items():
            values[name].append(v)
        done += b
        if progress is not None:
            progress(done, n_boot)
    se = {name: auc_se(np.matmul(m, counts_d.reshape(n_cells, -1)).reshape(m.shape[0], 2, -1))
          for name, m in onehots.items()}
    return Replicates({k: np.concatenate(v) for k, v in values.items()}, binned, metrics, hist.exact, n_boot, seed,
                      weighted=weights_d is not None, auc_se=se)


def auc_se(hist_desc: np.ndarray) -> np.ndarray:
    """DeLong standard error of the ROC AUC of histograms of shape (..., 2, bins) in descending score order
    (``[..., 0, :]`` negatives, ``[..., 1, :]`` positives; ties within a bin count as half).

    DeLong, DeLong & Clarke-Pearson (1988): each positive's placement is the share of negatives it outscores,
    each negative's the share of positives that outscore it; the AUC's variance is the variance of the
    positives' placements over the positives plus that of the negatives' over the negatives. Scores in one
    bin share their placement, so the histogram gives the variance exactly for binned scores (and for
    exact scores when every distinct score has its own bin). NaN without two positives and two negatives.

    Examples
    --------
    Scores 4 > 3 > 2 > 1 with labels 1, 0, 1, 0: placements 1 and 0.5 on both sides, AUC 0.75,
    variance 0.125 / 2 + 0.125 / 2:

    >>> h = np.array([[[0, 1, 0, 1], [1, 0, 1, 0]]])
    >>> round(float(auc_se(h)[0]), 6)
    0.353553
    """
    h = np.asarray(hist_desc, dtype=np.float64)
    neg_k, pos_k = h[..., 0, :], h[..., 1, :]
    neg, pos = neg_k.sum(axis=-1), pos_k.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # positives in bin k outscore the negatives below it and half of those in it
        v10 = (neg[..., None] - np.cumsum(neg_k, axis=-1) + 0.5 * neg_k) / neg[..., None]
        # negatives in bin k are outscored by the positives above it and half of those in it
        v01 = (np.cumsum(pos_k, axis=-1) - 0.5 * pos_k) / pos[..., None]
        auc = np.sum(pos_k * v10, axis=-1) / pos
        s10 = np.sum(pos_k * (v10 - auc[..., None]) ** 2, axis=-1) / (pos - 1)
        s01 = np.sum(neg_k * (v01 - auc[..., None]) ** 2, axis=-1) / (neg - 1)
        se = np.sqrt(s10 / pos + s01 / neg)
    return np.where((pos >= 2) & (neg >= 2), se, np.nan)


def percentile_interval(replicates: np.ndarray, level: float, *, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the defined (non-NaN) replicates; NaN when fewer than half are defined."""
    alpha = (1 - level) / 2
    defined = np.sum(~np.isnan(replicates), axis=axis)
    low, high = _nanquantile(np.asarray(replicates, dtype=np.float64), [alpha, 1 - alpha], axis)
    enough = defined >= replicates.shape[axis] / 2
    return np.where(enough, low, np.nan), np.where(enough, high, np.nan)


def _nanquantile(x: np.ndarray, qs: list[float], axis: int) -> np.ndarray:
    """``np.nanquantile(x, qs, axis=axis)``, float for float (signed zeros included), with one vectorised
    ``np.quantile`` for every position without NaN.

    numpy's nanquantile runs one 1-d quantile per position along the other axes (about 0.1 ms each: 0.4 s of an
    Adult report's intervals), also where nothing is missing; there it does what ``np.quantile`` does on the
    whole array. Positions with NaN keep numpy's own 1-d path."""
    import warnings

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if x.ndim < 2 or x.size == 0:
            return np.nanquantile(x, qs, axis=axis)
        moved = np.moveaxis(x, axis, 0)
        flat = moved.reshape(moved.shape[0], -1)
        gaps = np.isnan(flat).any(axis=0)
        out = np.empty((len(qs), flat.shape[1]))
        if not gaps.all():
            out[:, ~gaps] = np.quantile(flat[:, ~gaps], qs, axis=0)
        for col in np.flatnonzero(gaps):
            out[:, col] = np.nanquantile(flat[:, col], qs)
        return out.reshape(len(qs), *moved.shape[1:])


def shifted_interval(replicates: np.ndarray, exact: np.ndarray, binned: np.ndarray, level: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`percentile_interval` of ``replicates``, shifted by ``exact - binned`` and never excluding
    ``exact`` (a zero-width interval when the replicates do not vary, e.g. for counts of an empty cell).
    An interval that is NaN (too few defined replicates) stays NaN."""
    low, high = percentile_interval(replicates, level)
    shift = np.where(np.isnan(binned) | np.isnan(exact), 0.0, exact - binned)
    low, high = low + shift, high + shift
    return (np.where(np.isnan(low), np.nan, np.fmin(low, exact)),
            np.where(np.isnan(high), np.nan, np.fmax(high, exact)))


def group_interval_frames(
    reps: Replicates, by_group: pd.DataFrame, overall: Mapping[str, float], level: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group and overall intervals aligned with ``by_group`` (index ``(feature, group)``), each by the
    method :func:`evalkit.stats.interval_methods` names (Wilson, DeLong-logit or bootstrap percentile).

    Returns
    -------
    groups : DataFrame
        Index like ``by_group``; columns ``(metric, "ci_low" | "ci_high")``.
    overall : DataFrame
        Index: metric; columns ``value``, ``ci_low``, ``ci_high``.
    """
    metrics = reps.metrics
    parts = []
    for feature in by_group.index.get_level_values("feature").unique():
        exact = by_group.loc[feature, metrics].to_numpy(dtype=float)
        low, high = shifted_interval(reps.values[feature], exact, reps.binned[feature], level)
        closed_form_intervals(reps, feature, exact, low, high, level)
        index = pd.MultiIndex.from_product([[feature], by_group.loc[feature].index], names=["feature", "group"])
        cols = pd.MultiIndex.from_product([metrics, ["ci_low", "ci_high"]])
        data = np.stack([low, high], axis=-1).reshape(low.shape[0], -1)
        parts.append(pd.DataFrame(data, index=index, columns=cols))
    exact_overall = np.array([[overall[m] for m in metrics]], dtype=float)
    low, high = shifted_interval(reps.values["overall"], exact_overall, reps.binned["overall"], level)
    closed_form_intervals(reps, "overall", exact_overall, low, high, level)
    overall_frame = pd.DataFrame({"value": exact_overall[0], "ci_low": low[0], "ci_high": high[0]}, index=metrics)
    return pd.concat(parts), overall_frame
