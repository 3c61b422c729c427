"""Paired bootstrap on the same samples: two sets of predictions (clean and perturbed inputs, or two
models) resampled together, so that a difference's interval reflects only how the two disagree.

Each replicate draws a Poisson(1) weight per sample (the Poisson bootstrap, as in
:mod:`evalkit.bootstrap`); the same weights apply to both sets of predictions. Metrics are computed
from weighted confusion counts per group with one matrix product per count, and ROC AUC from a
weighted Mann-Whitney statistic with ties counted half, so a few hundred replicates over tens of
thousands of rows take well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..settings import CI_LEVEL, N_BOOT
from ._bootstrap import percentile_interval

#: Metrics computed from confusion counts (the ones a paired comparison can resample cheaply).
COUNT_METRICS: tuple[str, ...] = ("accuracy", "recall", "fpr", "fnr", "precision", "f1", "selection_rate")
#: Every metric :func:`paired_difference` supports.
PAIRED_METRICS: tuple[str, ...] = (*COUNT_METRICS, "roc_auc")


#: Most bytes one block of replicate weights may take (float32); larger bootstraps go block by block.
BLOCK_BYTES = 16 * 2**20


def poisson_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n)`` float32 Poisson(1) weights from ``numpy.random.default_rng(seed)`` (all at once: for
    small data; :func:`replicates` walks the same weights block by block)."""
    return np.random.default_rng(seed).poisson(1.0, size=(n_boot, n)).astype(np.float32)


def weight_blocks(n: int, n_boot: int, seed: int, max_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
    """The rows of :func:`poisson_weights` in blocks of at most ``max_bytes``: the same numbers (one
    generator, drawn in order), with memory bounded whatever ``n`` and ``n_boot``."""
    rng = np.random.default_rng(seed)
    block = max(1, min(n_boot, max_bytes // max(4 * n, 1)))
    for start in range(0, n_boot, block):
        yield rng.poisson(1.0, size=(min(block, n_boot - start), n)).astype(np.float32)


def replicates(fn: Callable[[np.ndarray], Any], n: int, n_boot: int, seed: int) -> Any:
    """``fn(weights)`` over :func:`weight_blocks`, stacked along the replicate axis; ``fn`` returns an array
    with replicates first, or a dict of them."""
    parts = [fn(w) for w in weight_blocks(n, n_boot, seed)]
    if parts and isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def count_metric(metric: str, tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """A metric of :data:`COUNT_METRICS` from (weighted) confusion counts; NaN where undefined.

    Examples
    --------
    >>> float(count_metric("recall", np.array(3.0), np.array(1.0), np.array(5.0), np.array(1.0)))
    0.75
    """
    num, den = {
        "accuracy": (tp + tn, tp + fp + tn + fn),
        "recall": (tp, tp + fn),
        "fpr": (fp, fp + tn),
        "fnr": (fn, tp + fn),
        "precision": (tp, tp + fp),
        "f1": (2 * tp, 2 * tp + fp + fn),
        "selection_rate": (tp + fp, tp + fp + tn + fn),
    }[metric]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.asarray(num, dtype=np.float64) / np.where(den > 0, den, 1), np.nan)


def group_matrix(groupings: Mapping[str, pd.Series | np.ndarray], n: int) -> tuple[np.ndarray, pd.MultiIndex]:
    """A 0/1 matrix ``(n, 1 + groups)`` whose first column is every sample and the others one group each.

    Returns
    -------
    matrix : ndarray of float32
    index : MultiIndex
        ``(feature, group)`` of each column; the first is ``("overall", "all")``.
    """
    columns, keys = [np.ones(n, dtype=np.float32)], [("overall", "all")]
    for feature, values in groupings.items():
        values = pd.Series(np.asarray(values))
        for group in sorted(values.dropna().unique(), key=str):
            columns.append((values == group).to_numpy(dtype=np.float32))
            keys.append((feature, str(group)))
    return np.stack(columns, axis=1), pd.MultiIndex.from_tuples(keys, names=["feature", "group"])


def group_codes(groupings: Mapping[str, pd.Series | np.ndarray]) -> tuple[dict[str, np.ndarray], pd.MultiIndex]:
    """Each grouping's group of every sample as a small integer (0: no group, ``j + 1``: the ``j``-th group in
    :func:`group_matrix`'s order), and the same ``(feature, group)`` index as :func:`group_matrix`.

    Examples
    --------
    >>> codes, index = group_codes({"sex": np.array(["m", "f", None, "f"], dtype=object)})
    >>> codes["sex"].tolist(), list(index)
    ([2, 1, 0, 1], [('overall', 'all'), ('sex', 'f'), ('sex', 'm')])
    """
    codes, keys = {}, [("overall", "all")]
    for feature, values in groupings.items():
        raw, uniques = pd.factorize(values if isinstance(values, pd.Series) else pd.Series(np.asarray(values)))
        order = sorted(range(len(uniques)), key=lambda i: str(uniques[i]))
        remap = np.zeros(len(uniques) + 1, dtype=np.int64)  # raw -1 (missing) stays 0
        remap[np.asarray(order, dtype=np.int64) + 1] = np.arange(1, len(uniques) + 1)
        codes[feature] = remap[np.asarray(raw) + 1]
        keys.extend((feature, str(uniques[i])) for i in order)
    return codes, pd.MultiIndex.from_tuples(keys, names=["feature", "group"])


class JointCells:
    """Samples reduced to cells of equal codes (group of every grouping, label, decisions …), for a Poisson
    bootstrap whose cost does not grow with the rows.

    A sample's Poisson(1) bootstrap weights summed over a cell of ``c`` samples are Poisson(``c``), and the sums
    over disjoint cells are independent: drawing one count per cell and replicate gives every count the per-sample
    Poisson bootstrap gives, jointly and in distribution (not draw for draw).

    Parameters
    ----------
    codes : dict of str to ndarray of int >= 0
        One code per sample for each name (for example :func:`group_codes`' groupings plus ``y`` and a decision).

    Attributes
    ----------
    counts : ndarray of float64, shape (cells,)
        Samples per cell.
    of_cell : dict of str to ndarray
        For each name, its code in every cell.
    rows : ndarray of int
        A sample of every cell (all of a cell's samples share every code).
    """

    def __init__(self, codes: Mapping[str, np.ndarray]) -> None:
        from ._bootstrap import combine_codes

        key, n_cells, self.of_cell = combine_codes({k: np.asarray(v) for k, v in codes.items()})
        self.counts = np.bincount(key, minlength=n_cells).astype(np.float64)
        self.rows = np.empty(n_cells, dtype=np.int64)
        self.rows[key] = np.arange(key.size)

    def member(self, groups: Mapping[str, np.ndarray], index: pd.MultiIndex) -> np.ndarray:
        """``(cells, columns)`` 0/1 matrix of the columns of ``index`` (from :func:`group_codes`; ``groups`` names
        the codes of each feature in :attr:`of_cell`)."""
        out = np.zeros((self.counts.size, len(index)))
        out[:, 0] = 1.0
        position: dict[str, int] = {}
        for k, (feature, _) in enumerate(index[1:], start=1):
            position[feature] = position.get(feature, 0) + 1
            out[:, k] = self.of_cell[groups[feature]] == position[feature]
        return out

    def draws(self, n_boot: int, seed: int | Sequence[int]) -> np.ndarray:
        """``(n_boot, cells)`` Poisson draws of the cell counts from ``numpy.random.default_rng(seed)``."""
        return np.random.default_rng(seed).poisson(self.counts, size=(n_boot, self.counts.size)).astype(np.float64)


def confusion_counts(y: np.ndarray, pred: np.ndarray, groups: np.ndarray,
                     weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Confusion counts per group column, for the data (``weights=None``: shape ``(k,)``) or for each
    bootstrap replicate (``weights`` of shape ``(B, n)``: shape ``(B, k)``)."""
    y, pred = y.astype(bool), pred.astype(bool)
    out = {}
    for name, mask in (("tp", y & pred), ("fp", ~y & pred), ("tn", ~y & ~pred), ("fn", y & ~pred)):
        masked = groups * mask[:, None].astype(np.float32)
        out[name] = masked.sum(axis=0, dtype=np.float64) if weights is None else (weights @ masked).astype(np.float64)
    return out


def weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """ROC AUC (ties count one half) for the data or for each row of ``weights`` ``(B, n)``.

    Equal to :func:`sklearn.metrics.roc_auc_score` with ``sample_weight``; NaN when a replicate has no
    positive or no negative weight.
    """
    order = np.argsort(score, kind="mergesort")
    s, yy = score[order], y[order].astype(bool)
    w = np.ones((1, s.size)) if weights is None else weights[:, order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(w * yy, starts, axis=1)
    neg = np.add.reduceat(w * ~yy, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)
    auc = np.where((total_pos > 0) & (total_neg > 0), auc, np.nan)
    return auc if weights is not None else auc[:1].reshape(())


def _metric_values(metric: str, y: np.ndarray, score: np.ndarray, threshold: float,
                   weights: np.ndarray | None) -> np.ndarray:
    if metric == "roc_auc":
        return weighted_auc(y, score, weights)
    ones = np.ones((y.size, 1), dtype=np.float32)
    c = confusion_counts(y, score >= threshold, ones, weights)
    return count_metric(metric, c["tp"], c["fp"], c["tn"], c["fn"])[..., 0]


#: How :func:`paired_difference` computes each interval (``method`` of its result).
PAIRED_METHODS = {"roc_auc": "DeLong", **{m: "paired Poisson bootstrap of joint cells" for m in COUNT_METRICS}}


def joint_cells(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> np.ndarray:
    """The 8 counts of (label, decision of a, decision of b): index ``4 * y + 2 * a + b``."""
    code = 4 * y.astype(np.int64) + 2 * pred_a.astype(np.int64) + pred_b.astype(np.int64)
    return np.bincount(code, minlength=8).astype(np.float64)


def _cells_metric(metric: str, cells: np.ndarray, model: int) -> np.ndarray:
    """``metric`` of model a (``model=0``) or b (``1``) from joint cells (last axis of length 8)."""
    c = cells.reshape(*cells.shape[:-1], 2, 2, 2)  # label, a, b
    decided = c.sum(axis=-1) if model == 0 else c.sum(axis=-2)  # label x decision
    return count_metric(metric, decided[..., 1, 1], decided[..., 0, 1], decided[..., 0, 0], decided[..., 1, 0])


def paired_difference(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, metric: str, *,
                      threshold_a: float = 0.5, threshold_b: float | None = None, n_boot: int = N_BOOT,
                      level: float = CI_LEVEL, seed: int = 0, lower_is_better: bool = False) -> dict[str, Any]:
    """``metric(a) - metric(b)`` on the same samples, with an interval that pairs the two.

    ROC AUC: DeLong's interval of the difference (:func:`evalkit.stats.delong`, one sort per model). Count
    metrics: a Poisson bootstrap of the 8 joint cells (label x decision of a x decision of b): the sum of
    per-sample Poisson(1) weights over a cell of ``k`` samples is Poisson(``k``), so drawing one count per cell
    and replicate is the per-sample paired bootstrap in distribution, at a cost that does not grow with the
    rows.

    Parameters
    ----------
    y_true : ndarray of 0/1
    score_a, score_b : ndarray
        Two models' scores for the same samples (``a`` is the candidate).
    metric : str
        One of :data:`PAIRED_METRICS`.
    threshold_a, threshold_b : float
        Decision thresholds (``threshold_b`` defaults to ``threshold_a``).
    n_boot : int
        Bootstrap replicates (count metrics).
    lower_is_better : bool, default=False
        Report ``metric(b) - metric(a)`` instead, so that a positive value always means "a is better".

    Returns
    -------
    dict
        ``a``, ``b``, ``difference``, ``ci_low``, ``ci_high``, ``n`` and ``method`` (see
        :data:`PAIRED_METHODS`).
    """
    from ._significance import delong

    if metric not in PAIRED_METRICS:
        raise ValueError(f"metric must be one of {list(PAIRED_METRICS)}, got {metric!r}")
    y = np.asarray(y_true).astype(bool)
    tb = threshold_a if threshold_b is None else threshold_b
    sign = -1.0 if lower_is_better else 1.0
    if metric == "roc_auc":
        r = delong(y.astype(np.int8), score_a, score_b, level=level)
        a, b, low, high = r["auc_a"], r["auc_b"], sign * r["ci_low"], sign * r["ci_high"]
        low, high = min(low, high), max(low, high)
    else:
        cells = joint_cells(y, np.asarray(score_a) >= threshold_a, np.asarray(score_b) >= tb)
        a, b = float(_cells_metric(metric, cells, 0)), float(_cells_metric(metric, cells, 1))
        draws = np.random.default_rng(seed).poisson(cells, size=(n_boot, 8)).astype(np.float64)
        reps = _cells_metric(metric, draws, 0) - _cells_metric(metric, draws, 1)
        low, high = (float(v) for v in percentile_interval(sign * reps, level))
    diff = sign * (a - b)
    finite = math.isfinite(diff)
    return {"a": a, "b": b, "difference": diff, "ci_low": float(low) if finite else math.nan,
            "ci_high": float(high) if finite else math.nan, "n": float(y.size), "method": PAIRED_METHODS[metric]}


def metric_by_columns(metric: str, y: np.ndarray, score: np.ndarray, threshold: float, groups: np.ndarray,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """One metric of :data:`PAIRED_METRICS` for every column of ``groups`` (see :func:`group_matrix`):
    shape ``(k,)`` for the data, ``(B, k)`` for the replicates of ``weights``."""
    return metrics_by_columns([metric], y, score, threshold, groups, weights)[metric]


def metrics_by_columns(metrics: Sequence[str], y: np.ndarray, score: np.ndarray, threshold: float,
                       groups: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`metric_by_columns` for several metrics, the confusion counts computed once."""
    y = y.astype(bool)
    out = count_metrics_by_columns([m for m in metrics if m != "roc_auc"], y, score >= threshold, groups, weights)
    if "roc_auc" in metrics:
        cols = []
        for k in range(groups.shape[1]):
            rows = groups[:, k] > 0
            cols.append(weighted_auc(y[rows], score[rows], None if weights is None else weights[:, rows]))
        out["roc_auc"] = np.stack(cols, axis=-1)
    return out


def count_metrics_by_columns(metrics: Sequence[str], y: np.ndarray, pred: np.ndarray, groups: np.ndarray,
                             weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Metrics of :data:`COUNT_METRICS` from 0/1 decisions, for every column of ``groups``: ``(k,)`` for the
    data, ``(B, k)`` for the rows of ``weights`` (per-sample weights, or draws per cell)."""
    if not metrics:
        return {}
    c = confusion_counts(y, pred, groups, weights)
    return {m: count_metric(m, c["tp"], c["fp"], c["tn"], c["fn"]) for m in metrics}
