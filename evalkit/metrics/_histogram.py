"""The score histogram tool: samples binned by score and split by true label, drill-down into any bin,
and metrics at any threshold in microseconds.

- :func:`bin_counts`: negatives and positives per score bin (optionally per group); counts add up to n.
- :func:`select`: the samples in a score range, optionally of one label, one group, or one outcome
  (``"fp"``, ``"fn"``, ``"tp"``, ``"tn"`` at a threshold).
- :func:`most_confidently_wrong`: false positives and false negatives, the most confident first
  (a false positive's score furthest above the threshold, a false negative's furthest below).
- :class:`ThresholdIndex`: scores sorted once per group with cumulative label counts, so the
  confusion counts (and every threshold metric) at a new threshold cost one binary search per group:
  what keeps the explorer responsive at millions of rows.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._binary import _safe_div

Outcome = Literal["tp", "fp", "tn", "fn"]


def bin_edges(y_score: np.ndarray, bins: int = 30, score_range: tuple[float, float] | None = None) -> np.ndarray:
    """``bins + 1`` equal-width edges over ``score_range`` (default: [0, 1] widened to the scores)."""
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins}")
    lo, hi = score_range if score_range is not None else (min(float(y_score.min()), 0.0), max(float(y_score.max()), 1.0))
    if not lo < hi:
        raise ValueError(f"score_range must have low < high, got {(lo, hi)}")
    return np.linspace(lo, hi, bins + 1)


def _bin_of(y_score: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of every score: ``[edges[i], edges[i+1])``, the last bin closed; outside: -1."""
    idx = np.searchsorted(edges, y_score, side="right") - 1
    idx[y_score == edges[-1]] = edges.size - 2
    idx[(y_score < edges[0]) | (y_score > edges[-1])] = -1
    return idx


def bin_counts(y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, bins: int = 30,
               score_range: tuple[float, float] | None = None, groups: npt.ArrayLike | None = None) -> pd.DataFrame:
    """Negatives and positives per score bin, overall or per group.

    Returns
    -------
    DataFrame
        Columns ``group`` (``"all"`` without ``groups``), ``bin``, ``low``, ``high``, ``negatives``,
        ``positives``, ``n``; per group, ``n`` adds up to the group's size.

    Examples
    --------
    >>> bin_counts([0, 1, 1, 0], [0.1, 0.2, 0.9, 1.0], bins=2)[["low", "high", "negatives", "positives"]]
       low  high  negatives  positives
    0  0.0   0.5          1          1
    1  0.5   1.0          1          1
    """
    y = np.asarray(y_true).astype(np.int64)
    s = np.asarray(y_score, dtype=np.float64)
    edges = bin_edges(s, bins, score_range)
    b = _bin_of(s, edges)
    g = np.full(y.size, "all", dtype=object) if groups is None else np.asarray(groups, dtype=object)
    rows = []
    for name in sorted(pd.unique(g)):
        m = (g == name) & (b >= 0)
        neg = np.bincount(b[m & (y == 0)], minlength=bins)
        pos = np.bincount(b[m & (y == 1)], minlength=bins)
        for i in range(bins):
            rows.append((name, i, edges[i], edges[i + 1], int(neg[i]), int(pos[i])))
    out = pd.DataFrame(rows, columns=["group", "bin", "low", "high", "negatives", "positives"])
    out["n"] = out["negatives"] + out["positives"]
    return out


def outcome(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> np.ndarray:
    """``"tp"``, ``"fp"``, ``"tn"`` or ``"fn"`` for every sample at ``threshold``."""
    pred = y_score >= threshold
    return np.where(y_true == 1, np.where(pred, "tp", "fn"), np.where(pred, "fp", "tn"))


def select(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    low: float = -np.inf,
    high: float = np.inf,
    label: int | None = None,
    groups: npt.ArrayLike | None = None,
    group: str | None = None,
    kind: Outcome | None = None,
    threshold: float | None = None,
    include_high: bool = False,
) -> np.ndarray:
    """Positions of the samples with ``low <= score < high`` (``<= high`` with ``include_high``, as
    for the last bin), optionally with true label ``label``, in ``group``, and of outcome ``kind`` at
    ``threshold``.

    Examples
    --------
    >>> select([0, 1, 1, 0], [0.1, 0.2, 0.9, 1.0], low=0.5, high=1.0, include_high=True).tolist()
    [2, 3]
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    mask = (s >= low) & ((s <= high) if include_high else (s < high))
    if label is not None:
        mask &= y == label
    if group is not None:
        if groups is None:
            raise ValueError("group given without groups")
        mask &= np.asarray(groups, dtype=object) == group
    if kind is not None:
        if threshold is None:
            raise ValueError(f"kind={kind!r} needs a threshold")
        if kind not in ("tp", "fp", "tn", "fn"):
            raise ValueError(f"kind must be one of 'tp', 'fp', 'tn', 'fn', got {kind!r}")
        mask &= outcome(y, s, threshold) == kind
    return np.flatnonzero(mask)


def most_confidently_wrong(y_true: npt.ArrayLike, y_score: npt.ArrayLike, threshold: float, *,
                           rows: np.ndarray | None = None, k: int | None = None) -> np.ndarray:
    """Positions of the wrong predictions (among ``rows``), most confidently wrong first: by the
    distance between score and threshold on the wrong side (ties by position).

    Examples
    --------
    >>> most_confidently_wrong([0, 1, 0, 1], [0.9, 0.1, 0.6, 0.45], 0.5).tolist()
    [0, 1, 2, 3]
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    rows = np.arange(y.size) if rows is None else np.asarray(rows)
    pred = s[rows] >= threshold
    wrong = rows[pred != (y[rows] == 1)]
    margin = np.abs(s[wrong] - threshold)
    order = wrong[np.lexsort((wrong, -margin))]
    return order if k is None else order[:k]


class ThresholdIndex:
    """Per-group sorted scores and cumulative counts: confusion counts at any threshold by binary search.

    Parameters
    ----------
    y_true : array-like of 0/1
    y_score : array-like of float
    groups : array-like, optional
        Group of every sample; ``"all"`` is always available.
    sample_weight : array-like, optional

    Examples
    --------
    >>> index = ThresholdIndex([0, 1, 1, 0], [0.1, 0.4, 0.8, 0.6], groups=["a", "a", "b", "b"])
    >>> index.counts(0.5).loc["all"].to_dict()
    {'n': 4.0, 'tp': 1.0, 'fp': 1.0, 'tn': 1.0, 'fn': 1.0}
    """

    def __init__(self, y_true: npt.ArrayLike, y_score: npt.ArrayLike, groups: npt.ArrayLike | None = None,
                 sample_weight: npt.ArrayLike | None = None) -> None:
        y = np.asarray(y_true).astype(np.float64)
        s = np.asarray(y_score, dtype=np.float64)
        w = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        g = np.full(y.size, "all", dtype=object) if groups is None else np.asarray(groups, dtype=object)
        self.groups = ["all"] + sorted(set(pd.unique(g)) - {"all"})
        self._scores, self._pos, self._neg, self._n = [], [], [], []
        for name in self.groups:
            m = slice(None) if name == "all" else (g == name)
            order = np.argsort(s[m], kind="stable")
            ss, yy, ww = s[m][order], y[m][order], w[m][order]
            self._scores.append(ss)
            # cumulative from the top: positives/negatives with score >= ss[i] = total - before i
            self._pos.append(np.r_[0.0, np.cumsum(yy * ww)])
            self._neg.append(np.r_[0.0, np.cumsum((1 - yy) * ww)])
            self._n.append(float(ss.size))

    def counts(self, threshold: float) -> pd.DataFrame:
        """``n``, ``tp``, ``fp``, ``tn``, ``fn`` of every group at ``threshold`` (score >= threshold)."""
        out = np.empty((len(self.groups), 5))
        for i, (ss, pos, neg) in enumerate(zip(self._scores, self._pos, self._neg, strict=True)):
            j = int(np.searchsorted(ss, threshold, side="left"))  # samples below the threshold
            tp, fp = pos[-1] - pos[j], neg[-1] - neg[j]
            out[i] = (self._n[i], tp, fp, neg[j], pos[j])
        return pd.DataFrame(out, index=pd.Index(self.groups, name="group"), columns=["n", "tp", "fp", "tn", "fn"])

    def metrics(self, threshold: float) -> pd.DataFrame:
        """Threshold metrics of every group, with evalkit's definitions (NaN where undefined)."""
        c = self.counts(threshold)
        tp, fp, tn, fn = (c[k].to_numpy() for k in ("tp", "fp", "tn", "fn"))
        total, pos = tp + fp + tn + fn, tp + fn
        return pd.DataFrame({
            "n": c["n"].to_numpy(),
            "selection_rate": _safe_div(tp + fp, total),
            "accuracy": _safe_div(tp + tn, total),
            "precision": _safe_div(tp, tp + fp),
            "recall": _safe_div(tp, pos),
            "fpr": _safe_div(fp, fp + tn),
            "fnr": _safe_div(fn, pos),
            "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        }, index=c.index)
