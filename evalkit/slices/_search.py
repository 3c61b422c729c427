"""Find the slices of the data where a model fails, with false discoveries controlled.

A *slice* is a conjunction of up to three predicates on different columns (:mod:`._predicates`): one value of
a categorical column, one quantile bin of a numeric one. The search is breadth-first over the lattice of
conjunctions, as in SliceFinder and SliceLine, with one pruning rule that does not look at the outcome: a
conjunction is formed only when each of its sub-conjunctions has at least ``min_support`` samples (support
only shrinks as predicates are added). Every candidate's four confusion counts come from one ``bincount`` per
pair or triple of columns over the rows, so the whole lattice costs a few passes over the data.

Every slice with enough support (``min_support`` samples, ``min_denominator`` in the metric's denominator,
and as many in the rest of the data) is *tested*: is the metric worse in the slice than in the rest?

- Rates (error rate, FNR/recall, FPR, precision through the false discovery rate): the one-sided exact
  conditional test (Fisher's exact test of slice/rest × error/correct, from the hypergeometric
  distribution); the gap ``rate(slice) - rate(rest)`` with Newcombe's hybrid score interval.
- Cost (``cost_fp`` per false positive, ``cost_fn`` per false negative, averaged per sample): Welch's z-test
  of the slice's mean cost against the rest's, with the normal interval.
- ROC AUC (threshold-free; needs the scores): scores cut at :data:`AUC_BINS` quantiles of all the data, each
  slice's and its rest's AUC from their label × score-bin counts (ties within a bin count half), DeLong's
  standard error of each (:func:`evalkit.stats.auc_se`; slice and rest hold different samples, so the
  variances add), a one-sided z-test of ``AUC(rest) - AUC(slice)`` and its normal interval. Read such a
  slice as "the model ranks poorly inside it": a slice cut on a strongly predictive input has a lower AUC by
  restriction of range alone (on Adult, slices on ``capital_loss`` lead).

The p-values of **every slice tested** are corrected together with Benjamini-Hochberg at ``fdr`` (valid for
independent or positively dependent tests, which overlapping slices are), so "significant" means the same at any
number of columns. Under data with no failing slice, the chance of reporting any slice is at most ``fdr``.
Slices are ranked by the bound of the gap's interval nearest zero (how much worse the data say the slice at
least is), never by the point estimate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..settings import SliceSettings
from ..stats import auc_se, benjamini_hochberg, newcombe_difference
from ._predicates import predicate_codes

#: The metric's errors and denominator from the confusion counts (tn, fp, fn, tp), and whether the printed
#: value is the error share itself or its complement (recall = 1 - FNR, precision = 1 - FDR).
_RATES: dict[str, tuple[Callable[..., Any], Callable[..., Any], bool]] = {
    "error_rate": (lambda tn, fp, fn, tp: fp + fn, lambda tn, fp, fn, tp: tn + fp + fn + tp, False),
    "fnr": (lambda tn, fp, fn, tp: fn, lambda tn, fp, fn, tp: fn + tp, False),
    "recall": (lambda tn, fp, fn, tp: fn, lambda tn, fp, fn, tp: fn + tp, True),
    "fpr": (lambda tn, fp, fn, tp: fp, lambda tn, fp, fn, tp: fp + tn, False),
    "precision": (lambda tn, fp, fn, tp: fp, lambda tn, fp, fn, tp: fp + tp, True),
}


#: Score bins of the ROC AUC slice metric (quantiles of all the data's scores).
AUC_BINS = 64


@dataclass(frozen=True)
class SliceSearch:
    """The result of :func:`find_slices`.

    Attributes
    ----------
    settings : SliceSettings
    slices : DataFrame
        One row per slice tested, ranked (significant first, then by ``gap_low`` descending): ``slice``
        (readable), ``query`` (pandas), ``terms``, ``n``, ``denominator``, ``errors``, ``value``, ``rest``
        (the metric in the slice and in the rest), ``gap`` (how much worse, positive = worse), ``gap_low``,
        ``gap_high``, ``p_value``, ``p_adjusted``, ``significant``, ``parent_gap_low`` (the best lower bound among
        its tested sub-conjunctions) and ``adds`` (its own lower bound beats theirs: the extra predicates
        matter).
    columns : list of str
        The columns searched.
    predicates : int
        Predicates over all columns (values and quantile bins).
    candidates : dict of int to int
        Conjunctions formed per number of terms (after support pruning).
    tested : int
        Slices tested (the Benjamini-Hochberg family).
    overall : float
        The metric on all the data.
    seconds : float
    """

    settings: SliceSettings
    slices: pd.DataFrame
    columns: list[str]
    predicates: int
    candidates: dict[int, int]
    tested: int
    overall: float
    seconds: float
    binned: list[str] = field(default_factory=list)

    @property
    def significant(self) -> pd.DataFrame:
        """The significant slices, ranked."""
        return self.slices[self.slices["significant"]]

    @property
    def top(self) -> pd.DataFrame:
        """The significant slices that are worse than each of their sub-slices (by the interval bounds), ranked:
        the list to read first."""
        return self.slices[self.slices["significant"] & self.slices["adds"]]

    def method(self) -> str:
        """The method in one paragraph, for reports."""
        s = self.settings
        test = ("Welch's z-test of the mean cost, normal interval" if s.metric == "cost" else
                f"ROC AUC from scores cut at {AUC_BINS} quantiles (ties within a bin count half), one-sided z-test of "
                "AUC(rest) - AUC(slice) with DeLong standard errors, normal interval" if s.metric == "roc_auc" else
                "one-sided Fisher exact test (hypergeometric) of the slice against the rest, Newcombe hybrid score "
                "interval of the gap")
        binned = f"; numeric columns cut at quantiles into {s.bins} bins ({', '.join(self.binned)})" \
            if self.binned else ""
        return (f"Conjunctions of up to {s.max_terms} predicates over {len(self.columns)} columns "
                f"({self.predicates} predicates{binned}); a conjunction is formed only when every "
                f"sub-conjunction has at least {s.min_support} samples. {self.tested:,} slices with at least "
                f"{s.min_support} samples and {s.min_denominator} in the metric's denominator were tested: {test}; "
                f"p-values corrected together by Benjamini-Hochberg at FDR {s.fdr:g}; intervals at {s.level:.0%}. "
                "Ranked by the interval bound nearest zero.")

    def to_dict(self, top: int = 50) -> dict[str, Any]:
        """JSON-friendly summary for ``metrics.json``: settings, counts and the ``top`` significant slices."""
        sig = self.top.head(top)

        def num(v: Any) -> Any:
            return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else v

        return {
            "settings": self.settings.to_parameters(), "columns": self.columns, "predicates": self.predicates,
            "candidates": {str(k): v for k, v in self.candidates.items()}, "tested": self.tested,
            "significant": int(self.slices["significant"].sum()), "overall": num(float(self.overall)),
            "metric": self.settings.metric,
            "method": self.method(),
            "slices": [{k: (num(float(v)) if isinstance(v, (float, np.floating)) else
                            int(v) if isinstance(v, (np.integer,)) else bool(v) if isinstance(v, np.bool_) else v)
                        for k, v in row.items()} for row in sig.to_dict(orient="records")]}


def _counts_by_key(key: np.ndarray, cls: np.ndarray, size: int, k: int = 4) -> np.ndarray:
    """Counts ``(size, k)`` of the classes ``cls`` per key (confusion counts tn, fp, fn, tp with ``k=4``; label
    × score bin for the ROC AUC); keys < 0 are left out."""
    cell = key.astype(np.int64)  # one temporary per pass: the cell of every row, the left-out ones in a spare cell
    cell *= k
    cell += cls
    cell[key < 0] = size * k
    return np.bincount(cell, minlength=size * k + 1)[:size * k].reshape(size, k)


def _enumerate(codes: list[np.ndarray], cls: np.ndarray, sizes: list[int], offsets: list[int], s: SliceSettings,
               k_cls: int = 4) -> tuple[list[tuple[int, ...]], np.ndarray, dict[int, int]]:
    """Every conjunction with enough support in each of its sub-conjunctions, and its confusion counts.

    Columns are held as contiguous per-column codes (local to the column, -1 for none, in small integer types);
    for every pair of columns a boolean per row says whether the row's pair of predicates is a supported
    conjunction, so a triple of columns needs three ANDs, one gather of the rows that remain and one
    ``bincount``."""
    n_cols = len(codes)
    local = [np.ascontiguousarray(c) for c in codes]
    cls = np.ascontiguousarray(cls)
    terms: list[tuple[int, ...]] = []
    counts: list[np.ndarray] = []
    candidates: dict[int, int] = {}

    def keep(c: np.ndarray, decode: Callable[[int], tuple[int, ...]]) -> np.ndarray:
        ok = c.sum(axis=1) >= s.min_support
        for q in np.flatnonzero(ok):
            terms.append(decode(int(q)))
        counts.append(c[ok])
        return ok

    # one term
    ok1 = []
    for j in range(n_cols):
        ok1.append(keep(_counts_by_key(local[j], cls, sizes[j], k_cls), lambda q, j=j: (offsets[j] + q,)))
    candidates[1] = len(terms)
    if s.max_terms >= 2:
        rows_ok: dict[tuple[int, int], np.ndarray] = {}
        before = len(terms)
        for i, j in combinations(range(n_cols), 2):
            a, b = local[i], local[j]
            valid = (a >= 0) & (b >= 0)
            valid &= np.take(ok1[i], np.maximum(a, 0)) & np.take(ok1[j], np.maximum(b, 0))
            key = a.astype(np.int64) * sizes[j] + b
            key[~valid] = -1
            ok = keep(_counts_by_key(key, cls, sizes[i] * sizes[j], k_cls),
                      lambda q, i=i, j=j: (offsets[i] + q // sizes[j], offsets[j] + q % sizes[j]))
            if s.max_terms >= 3:
                rows_ok[(i, j)] = valid & np.take(ok, np.maximum(key, 0))
        candidates[2] = len(terms) - before
        if s.max_terms >= 3:
            before = len(terms)
            for i, j, k in combinations(range(n_cols), 3):
                idx = np.flatnonzero(rows_ok[(i, j)] & rows_ok[(i, k)] & rows_ok[(j, k)])
                key = (local[i][idx].astype(np.int64) * sizes[j] + local[j][idx]) * sizes[k] + local[k][idx]
                c = _counts_by_key(key, cls[idx], sizes[i] * sizes[j] * sizes[k], k_cls)
                keep(c, lambda q, i=i, j=j, k=k: (offsets[i] + q // (sizes[j] * sizes[k]),
                                                  offsets[j] + (q // sizes[k]) % sizes[j], offsets[k] + q % sizes[k]))
            candidates[3] = len(terms) - before
    return terms, (np.concatenate(counts) if counts else np.zeros((0, k_cls), dtype=np.int64)), candidates


def _test(counts: np.ndarray, total: np.ndarray, s: SliceSettings) -> dict[str, np.ndarray]:
    """Per slice: denominator, errors, values, gap with interval, one-sided p-value."""
    from scipy.stats import hypergeom, norm

    if s.metric == "roc_auc":
        return _test_auc(counts, total, s)
    tn, fp, fn, tp = (counts[:, k].astype(np.float64) for k in range(4))
    T = [float(v) for v in total]
    n = tn + fp + fn + tp
    if s.metric == "cost":
        # per-sample costs: c_fp on false positives, c_fn on false negatives, 0 otherwise
        def moments(fp_: Any, fn_: Any, n_: Any) -> tuple[Any, Any]:
            mean = (s.cost_fp * fp_ + s.cost_fn * fn_) / n_
            second = (s.cost_fp ** 2 * fp_ + s.cost_fn ** 2 * fn_) / n_
            return mean, np.maximum(second - mean ** 2, 0) * n_ / np.maximum(n_ - 1, 1)

        with np.errstate(invalid="ignore", divide="ignore"):
            m1, v1 = moments(fp, fn, n)
            rn, rfp, rfn = sum(T) - n, T[1] - fp, T[2] - fn
            m2, v2 = moments(rfp, rfn, rn)
            se = np.sqrt(v1 / n + v2 / rn)
            gap = m1 - m2
            z = norm.ppf(1 - (1 - s.level) / 2)
            p = np.where(se > 0, norm.sf(gap / np.where(se > 0, se, 1)), np.where(gap > 0, 0.0, 1.0))
        return {"denominator": n, "errors": fp + fn, "value": m1, "rest": m2, "gap": gap, "gap_low": gap - z * se,
                "gap_high": gap + z * se, "p_value": p}
    err_fn, den_fn, complement = _RATES[s.metric]
    e, d = err_fn(tn, fp, fn, tp), den_fn(tn, fp, fn, tp)
    E, D = err_fn(*T), den_fn(*T)
    re, rd = E - e, D - d
    # P(X >= e) for X ~ Hypergeometric(D, E, d): the slice has at least its errors by chance. Computed once per
    # distinct (e, d): slices often share their counts (about 40 % of Adult's), and scipy's exact tail is the
    # costliest step of a search.
    pairs, back = np.unique(np.stack([e, d], axis=1), axis=0, return_inverse=True)
    p = hypergeom.sf(pairs[:, 0] - 1, D, E, pairs[:, 1])[back.ravel()]
    low, high = newcombe_difference(e, d, re, rd, s.level)
    with np.errstate(invalid="ignore", divide="ignore"):
        share, rest_share = e / d, re / rd
    value, rest = (1 - share, 1 - rest_share) if complement else (share, rest_share)
    return {"denominator": d, "errors": e, "value": value, "rest": rest, "gap": share - rest_share, "gap_low": low,
            "gap_high": high, "p_value": np.clip(p, 0, 1)}


def _auc_of(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AUC, DeLong standard error, positives and negatives of label × score-bin counts ``(m, 2 * bins)``
    (negatives' bins first, ascending scores)."""
    b = counts.shape[1] // 2
    hist = np.stack([counts[:, :b][:, ::-1], counts[:, b:][:, ::-1]], axis=1).astype(np.float64)  # descending
    neg_k, pos_k = hist[:, 0], hist[:, 1]
    pos, neg = pos_k.sum(axis=1), neg_k.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        below = neg[:, None] - np.cumsum(neg_k, axis=1) + 0.5 * neg_k
        auc = np.sum(pos_k * below, axis=1) / (pos * neg)
    return auc, auc_se(hist), pos, neg


def _test_auc(counts: np.ndarray, total: np.ndarray, s: SliceSettings) -> dict[str, np.ndarray]:
    from scipy.stats import norm

    auc, se, pos, neg = _auc_of(counts)
    r_auc, r_se, r_pos, r_neg = _auc_of(total[None, :] - counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = r_auc - auc  # positive: the slice ranks worse
        sd = np.sqrt(se ** 2 + r_se ** 2)
        z = norm.ppf(1 - (1 - s.level) / 2)
        p = np.where(sd > 0, norm.sf(gap / np.where(sd > 0, sd, 1)), np.where(gap > 0, 0.0, 1.0))
    return {"denominator": np.minimum(pos, neg), "errors": pos, "value": auc, "rest": r_auc, "gap": gap,
            "gap_low": gap - z * sd, "gap_high": gap + z * sd, "p_value": np.where(np.isnan(sd), np.nan, p)}


def _overall(total: np.ndarray, s: SliceSettings) -> tuple[float, float]:
    """The metric on all the data and its denominator."""
    if s.metric == "roc_auc":
        auc, _, pos, neg = _auc_of(total[None, :])
        return float(auc[0]), float(min(pos[0], neg[0]))
    tn, fp, fn, tp = (float(v) for v in total)
    if s.metric == "cost":
        n = tn + fp + fn + tp
        return (s.cost_fp * fp + s.cost_fn * fn) / n if n else float("nan"), n
    err_fn, den_fn, complement = _RATES[s.metric]
    e, d = err_fn(tn, fp, fn, tp), den_fn(tn, fp, fn, tp)
    share = e / d if d else float("nan")
    return (1 - share if complement else share), d


def find_slices(frame: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray, *,
                columns: Sequence[str] | None = None, settings: SliceSettings | dict | None = None,
                y_score: np.ndarray | None = None, **overrides: Any) -> SliceSearch:
    """Search the slices of ``frame`` where the decisions ``y_pred`` are worse than on the rest of the data.

    Parameters
    ----------
    frame : DataFrame
        The columns to slice on (sensitive features, model inputs), one row per sample.
    y_true, y_pred : array-like of 0/1
        Labels and the model's decisions at its operating threshold.
    columns : sequence of str, optional
        Which columns of ``frame`` (default: all).
    settings : SliceSettings or dict, optional
        Overridden by keyword arguments (``metric="fnr"``, ``max_terms=2``, ...).
    y_score : array-like of float, optional
        The model's scores; required for ``metric="roc_auc"`` (which ignores ``y_pred``).

    Returns
    -------
    SliceSearch

    Raises
    ------
    ValueError
        If the labels or decisions are not 0/1, lengths differ, a column is unknown, or ``metric="roc_auc"``
        without finite ``y_score``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.choice(["x", "y"], 4000), "b": rng.normal(size=4000)})
    >>> y = rng.integers(0, 2, 4000)
    >>> wrong = (X.a == "x") & (X.b > 0.7)          # a planted failing slice
    >>> pred = np.where(wrong & (rng.random(4000) < 0.6), 1 - y, y)
    >>> out = find_slices(X, y, pred, max_terms=2)
    >>> out.top.iloc[0]["slice"]
    'a = x & b in [0.6803, 3.257]'
    """
    start = time.perf_counter()
    s = SliceSettings.build(settings, **overrides)
    columns = list(frame.columns if columns is None else columns)
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise ValueError(f"columns {unknown} are not in the data; expected some of {list(frame.columns)}")
    y, pred = np.asarray(y_true), np.asarray(y_pred)
    if y.shape != (len(frame),) or pred.shape != (len(frame),):
        raise ValueError(f"y_true and y_pred must have one value per row of frame ({len(frame)}), got "
                         f"{y.shape} and {pred.shape}")
    for name, v in (("y_true", y), ("y_pred", pred)):
        bad = ~np.isin(v, [0, 1])
        if bad.any():
            raise ValueError(f"{name} must be 0/1; found {v[bad][:3].tolist()} (row {int(np.argmax(bad))})")
    k_cls = 4
    cls = 2 * y.astype(np.int16) + pred.astype(np.int16)  # 0 tn, 1 fp, 2 fn, 3 tp
    if s.metric == "roc_auc":
        if y_score is None:
            raise ValueError("metric='roc_auc' needs the model's scores: pass y_score")
        score = np.asarray(y_score, dtype=np.float64)
        if score.shape != y.shape or not np.isfinite(score).all():
            raise ValueError(f"y_score must hold one finite score per row of frame ({len(frame)}), got shape "
                             f"{score.shape}" + ("" if score.shape != y.shape else " with non-finite values"))
        edges = np.unique(np.quantile(score, np.linspace(0, 1, AUC_BINS + 1)[1:-1]))
        bins = np.searchsorted(edges, score, side="right")
        k_cls = 2 * AUC_BINS
        cls = (y.astype(np.int16) * AUC_BINS + bins).astype(np.int16)  # negatives' bins, then positives'
    preds, codes, sizes = predicate_codes(frame, columns, bins=s.bins)
    offsets = [int(o) for o in np.cumsum([0] + sizes[:-1])]
    terms, counts, candidates = _enumerate(codes, cls, sizes, offsets, s, k_cls)
    del codes
    total = np.bincount(cls, minlength=k_cls)
    res = _test(counts, total, s) if len(terms) else {k: np.zeros(0) for k in (
        "denominator", "errors", "value", "rest", "gap", "gap_low", "gap_high", "p_value")}
    n = counts.sum(axis=1) if len(terms) else np.zeros(0)
    overall, total_den = _overall(total, s)
    testable = (n >= s.min_support) & (res["denominator"] >= s.min_denominator) & \
        (total_den - res["denominator"] >= s.min_denominator)
    table = pd.DataFrame({
        "slice": [" & ".join(preds[t].label for t in ts) for ts in terms],
        "query": [" and ".join(f"({preds[t].query})" for t in ts) for ts in terms],
        "terms": [len(ts) for ts in terms], "n": n.astype(np.int64), **res})
    kept = [t for t, ok in zip(terms, testable, strict=True) if ok]
    table = table[testable].reset_index(drop=True)
    table["p_adjusted"] = benjamini_hochberg(table["p_value"].to_numpy()) if len(table) else np.zeros(0)
    table["significant"] = (table["p_adjusted"] <= s.fdr) & (table["gap"] > 0)
    # a conjunction adds something only when the data show it worse than every sub-conjunction tested
    bound = dict(zip(kept, table["gap_low"].to_numpy(), strict=True))
    parents = [max((bound[p] for k in range(1, len(t)) for p in combinations(t, k) if p in bound), default=-np.inf)
               for t in kept]
    table["parent_gap_low"] = np.where(np.isfinite(parents), parents, np.nan)
    table["adds"] = ~(table["gap_low"] <= table["parent_gap_low"])
    table = table.sort_values(["significant", "gap_low", "p_value"], ascending=[False, False, True],
                              kind="stable").reset_index(drop=True)
    table["denominator"] = table["denominator"].astype(np.int64)
    binned = sorted({p.column for p in preds if " in [" in p.label})
    return SliceSearch(settings=s, slices=table, columns=columns, predicates=len(preds), candidates=candidates,
                       tested=len(table), overall=float(overall), seconds=time.perf_counter() - start,
                       binned=binned)

