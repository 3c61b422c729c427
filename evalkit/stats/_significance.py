"""Paired significance tests for two models scored on the same samples.

- :func:`mcnemar`: do the two models make errors at different rates? Only the samples on which they
  disagree carry information: ``b`` (the first right, the second wrong) and ``c`` (the reverse).
  The p-value is the exact two-sided binomial test of ``b`` out of ``b + c`` at one half (McNemar's
  exact test); the continuity-corrected chi-square statistic is given too.
- :func:`delong`: is one ROC AUC larger than the other? DeLong, DeLong & Clarke-Pearson (1988)
  estimate the covariance of two correlated AUCs from the structural components of the
  Mann-Whitney statistic; computed with midranks as in Sun & Xu (2014), in ``O(n log n)``.

Both are unweighted: they count samples. For weighted evaluations (balancing weights) use the paired
bootstrap of :mod:`evalkit.paired`, which takes weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from ..settings import CI_LEVEL


def _check_pair(y_true: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike,
                names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    x1, x2 = np.asarray(a), np.asarray(b)
    if y.ndim != 1 or x1.shape != y.shape or x2.shape != y.shape:
        raise ValueError(f"y_true, {names[0]} and {names[1]} must be 1-d arrays of the same length, got shapes "
                         f"{y.shape}, {x1.shape} and {x2.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"y_true must hold 0/1 labels, got values {sorted(values)[:5]}")
    return y.astype(bool), x1, x2


def mcnemar(y_true: npt.ArrayLike, pred_a: npt.ArrayLike, pred_b: npt.ArrayLike) -> dict[str, float]:
    """McNemar's exact test of equal error rates for two sets of 0/1 predictions on the same samples.

    Parameters
    ----------
    y_true : array-like of 0/1
    pred_a, pred_b : array-like of 0/1
        The two models' decisions.

    Returns
    -------
    dict
        ``b`` (``a`` right, ``b`` wrong), ``c`` (``a`` wrong, ``b`` right), ``n``, ``accuracy_difference``
        (``(b - c) / n``: accuracy of ``a`` minus accuracy of ``b``), ``statistic`` (chi-square with
        continuity correction, ``(|b - c| - 1)^2 / (b + c)``, 0 when ``b + c = 0``) and ``p_value`` (exact
        two-sided binomial; 1 when the models never disagree on correctness).

    Examples
    --------
    >>> r = mcnemar([1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 1], [0, 0, 1, 0, 0, 1])
    >>> r["b"], r["c"], round(r["p_value"], 3)
    (2.0, 0.0, 0.5)
    """
    y, a, b = _check_pair(y_true, pred_a, pred_b, ("pred_a", "pred_b"))
    right_a, right_b = a.astype(bool) == y, b.astype(bool) == y
    return mcnemar_counts(int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b)), int(y.size))


def binom_half_p(k: int, n: int) -> float:
    """``scipy.stats.binomtest(k, n, 0.5).pvalue`` (two-sided) without its search for the other tail: at p = 1/2
    the distribution is symmetric, so the tails are ``<= min(k, n - k)`` and ``>= max(k, n - k)``. Equal to
    scipy's to the last bit (tested on a grid up to n = 100,000), and ~100 times faster at n in the thousands.

    Examples
    --------
    >>> binom_half_p(2, 2), binom_half_p(3, 6)
    (0.5, 1.0)
    """
    from scipy.stats import binom

    low = min(k, n - k)
    if 2 * low == n:
        return 1.0
    return float(min(1.0, binom.cdf(low, n, 0.5) + binom.sf(n - low - 1, n, 0.5)))


def mcnemar_counts(n_b: int, n_c: int, n: int) -> dict[str, float]:
    """:func:`mcnemar` from its counts: ``n_b`` samples only ``a`` decides right, ``n_c`` only ``b``, of ``n``."""
    total = n_b + n_c
    p = binom_half_p(n_b, total) if total else 1.0
    stat = (abs(n_b - n_c) - 1) ** 2 / total if total else 0.0
    return {"b": float(n_b), "c": float(n_c), "n": float(n),
            "accuracy_difference": (n_b - n_c) / n if n else math.nan,
            "statistic": float(stat), "p_value": float(min(1.0, p))}


def _midranks(sorted_values: np.ndarray) -> np.ndarray:
    """1-based ranks of already sorted values, ties sharing their mean rank (as :func:`scipy.stats.rankdata`)."""
    n = sorted_values.size
    tied = sorted_values[1:] == sorted_values[:-1]
    if not tied.any():  # distinct values (most float scores): the ranks themselves, without counting blocks
        return np.arange(1, n + 1, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, ~tied])
    ends = np.r_[starts[1:], n]
    return np.repeat((starts + ends + 1) / 2.0, ends - starts)


def _structural_components(y_sorted: np.ndarray, s_sorted: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's placement values ``V10`` (one per positive) and ``V01`` (one per negative), from labels
    and scores sorted by score: O(n) midranks instead of three sorts."""
    combined = _midranks(s_sorted)
    pos, neg = s_sorted[y_sorted], s_sorted[~y_sorted]
    m, n = pos.size, neg.size
    v10 = (combined[y_sorted] - _midranks(pos)) / n  # share of negatives below each positive
    v01 = 1.0 - (combined[~y_sorted] - _midranks(neg)) / m  # share of positives above each negative
    auc = (combined[y_sorted].sum() - m * (m + 1) / 2) / (m * n)
    return float(auc), v10, v01


def auc_and_se(y_sorted: np.ndarray, s_sorted: np.ndarray) -> tuple[float, float]:
    """ROC AUC (ties count one half) and its DeLong standard error, from labels and scores sorted by score.

    The variance is that of the positives' placements over the positives plus that of the negatives' over the
    negatives (sample variances), as :func:`evalkit.stats.auc_se` computes it from a histogram. AUC NaN
    without a positive or a negative; standard error NaN without two of each.

    Examples
    --------
    >>> auc, se = auc_and_se(np.array([False, True, False, True]), np.array([1.0, 2.0, 3.0, 4.0]))
    >>> auc, round(se, 6)
    (0.75, 0.353553)
    """
    y = np.asarray(y_sorted, dtype=bool)
    m, n = int(y.sum()), int(y.size - y.sum())
    if m == 0 or n == 0:
        return math.nan, math.nan
    auc, v10, v01 = _structural_components(y, np.asarray(s_sorted, dtype=np.float64))
    if m < 2 or n < 2:
        return auc, math.nan
    return auc, math.sqrt(float(np.var(v10, ddof=1)) / m + float(np.var(v01, ddof=1)) / n)


def delong(y_true: npt.ArrayLike, score_a: npt.ArrayLike, score_b: npt.ArrayLike, *,
           level: float = CI_LEVEL) -> dict[str, float]:
    """DeLong's test of equal ROC AUC for two models' scores on the same samples.

    Parameters
    ----------
    y_true : array-like of 0/1
    score_a, score_b : array-like of float
    level : float, default=0.95
        Confidence level of the interval for the difference.

    Returns
    -------
    dict
        ``auc_a``, ``auc_b`` (equal to :func:`sklearn.metrics.roc_auc_score`), ``difference``
        (``auc_a - auc_b``), ``se``, ``z``, ``p_value`` (two-sided, normal), ``ci_low``, ``ci_high``.
        All NaN when a class is missing; ``p_value`` 1 and ``z`` 0 when the difference and its variance
        are both 0 (for example identical scores).

    Examples
    --------
    >>> r = delong([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0.1, 0.4, 0.35, 0.8])
    >>> r["difference"], r["p_value"]
    (0.0, 1.0)
    """
    y, a, b = _check_pair(y_true, score_a, score_b, ("score_a", "score_b"))
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    a, b = a.astype(np.float64), b.astype(np.float64)
    return delong_sorted(y, a, b, np.argsort(a, kind="stable"), np.argsort(b, kind="stable"), level=level)


def delong_sorted(y: np.ndarray, a: np.ndarray, b: np.ndarray, order_a: np.ndarray, order_b: np.ndarray, *,
                  level: float = CI_LEVEL) -> dict[str, float]:
    """:func:`delong` given permutations that sort ``a`` and ``b`` (unchecked): for many subsets of one dataset,
    sort once and pass ``order[mask[order]]``-style subsets instead of sorting each subset again."""
    m, n = int(y.sum()), int(y.size - y.sum())
    if m == 0 or n == 0:
        nan = math.nan
        return {"auc_a": nan, "auc_b": nan, "difference": nan, "se": nan, "z": nan, "p_value": nan,
                "ci_low": nan, "ci_high": nan, "n_pos": float(m), "n_neg": float(n)}
    auc_a, v10_a, v01_a = _in_sample_order(y, a, order_a)
    auc_b, v10_b, v01_b = _in_sample_order(y, b, order_b)
    s10 = np.cov(np.vstack([v10_a, v10_b])) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([v01_a, v01_b])) if n > 1 else np.zeros((2, 2))
    return delong_from_variances(auc_a, auc_b, s10[0, 0] + s10[1, 1] - 2 * s10[0, 1],
                                 s01[0, 0] + s01[1, 1] - 2 * s01[0, 1], m, n, level=level)


def delong_from_variances(auc_a: float, auc_b: float, var10: float, var01: float, m: int, n: int, *,
                          level: float = CI_LEVEL) -> dict[str, float]:
    """:func:`delong`'s result from the two AUCs and the sample variances of the difference of the two models'
    placement values over the ``m`` positives (``var10``) and over the ``n`` negatives (``var01``; 0 for a class of
    one sample): how :func:`delong`, the grouped comparison and the out-of-core comparison (which keeps sums, not
    placement values) finish the test."""
    from scipy.stats import norm

    if m == 0 or n == 0:
        nan = math.nan
        return {"auc_a": nan, "auc_b": nan, "difference": nan, "se": nan, "z": nan, "p_value": nan,
                "ci_low": nan, "ci_high": nan, "n_pos": float(m), "n_neg": float(n)}
    var = var10 / m + var01 / n
    diff = auc_a - auc_b
    se = math.sqrt(max(var, 0.0))
    if se > 0:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    else:  # the two score vectors rank every pair the same way
        z, p = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    half = float(norm.ppf(0.5 + level / 2)) * se
    return {"auc_a": auc_a, "auc_b": auc_b, "difference": diff, "se": se, "z": float(z), "p_value": p,
            "ci_low": diff - half, "ci_high": diff + half, "n_pos": float(m), "n_neg": float(n)}


def _in_sample_order(y: np.ndarray, score: np.ndarray, order: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`_structural_components` of one model, its placement values put back in sample order (positives'
    and negatives' in the order of the samples) so that two models' can be paired: one scatter of every
    sample's placement, one gather per class."""
    y_sorted = y[order]
    auc, v10, v01 = _structural_components(y_sorted, score[order])
    placement = np.empty(y.size)
    placement[order[y_sorted]] = v10
    placement[order[~y_sorted]] = v01
    return auc, placement[y], placement[~y]


def flip_rate(pred_a: npt.ArrayLike, pred_b: npt.ArrayLike, *, level: float = CI_LEVEL) -> dict[str, float]:
    """Share of samples whose decision differs between two models, with a Clopper-Pearson interval.

    Examples
    --------
    >>> r = flip_rate([1, 0, 1, 1], [1, 1, 1, 0])
    >>> r["flips"], r["rate"]
    (2.0, 0.5)
    """
    a, b = np.asarray(pred_a).astype(bool), np.asarray(pred_b).astype(bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"pred_a and pred_b must be 1-d arrays of the same length, got {a.shape} and {b.shape}")
    return flip_rate_counts(int(np.sum(a != b)), int(a.size), level=level)


def flip_rate_counts(flips: int, n: int, *, level: float = CI_LEVEL) -> dict[str, float]:
    """:func:`flip_rate` from its counts: ``flips`` differing decisions of ``n``."""
    from ._binomial import clopper_pearson

    low, high = clopper_pearson(flips, n, level)
    return {"flips": float(flips), "n": float(n), "rate": flips / n if n else math.nan,
            "ci_low": float(low), "ci_high": float(high)}


class SortedScores:
    """One model's scores ranked once, for DeLong's placement values within any grouping of the samples.

    Scores with many ties (rounded probabilities, a tree model's leaf values) are ranked by hashing
    (``pandas.factorize``, ``O(n)``), and :func:`placements` reads them from a table of counts per group, distinct
    score and label. Other scores are sorted once (``O(n log n)``). Both ways give the same placements, to the bit.

    Parameters
    ----------
    y : ndarray of bool
    score : ndarray of float
    order : ndarray of int, optional
        A permutation that sorts ``score`` (computed when not given).
    method : {"auto", "hash", "sort"}, default="auto"
        How the scores are ranked: ``"auto"`` hashes them when a fixed sample of 65,536 of them holds at most
        half as many distinct values. Only the speed depends on it.

    Attributes
    ----------
    order : ndarray of int32 (int64 beyond 2**31 samples)
        A permutation that sorts the scores (sorted on first use when they were ranked by hashing).
    y : ndarray of bool
        The labels in score order.
    rank : ndarray of int32 or None
        The dense rank of each score in score order (equal scores, equal rank); None when every score is distinct.
    sample_rank : ndarray of int32 or None
        The dense rank of each score in sample order, when the scores were ranked by hashing.
    n_ranks : int
        The number of distinct scores, when the scores were ranked by hashing (else 0).
    """

    def __init__(self, y: np.ndarray, score: np.ndarray, order: np.ndarray | None = None, *,
                 method: str = "auto") -> None:
        if method not in ("auto", "hash", "sort"):
            raise ValueError(f"method must be 'auto', 'hash' or 'sort', got {method!r}")
        self._index = np.int32 if y.size < 2**31 else np.int64
        self._labels, self._score = y, score
        self.sample_rank: np.ndarray | None = None
        self.n_ranks = 0
        self._order: np.ndarray | None = None
        self._y = self._rank = None
        self._in_order: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if order is None and (method == "hash" or (method == "auto" and _many_ties(score))):
            self.sample_rank, self.n_ranks = _dense_rank(score, self._index)
        else:
            self._sort(order)

    def _sort(self, order: np.ndarray | None = None) -> None:
        score, y = self._score, self._labels
        # any sorting permutation: placements take whole blocks of tied scores, so the order within a block
        # changes no value (the default sort is about twice as fast as a stable one)
        order = (np.argsort(score) if order is None else order).astype(self._index, copy=False)
        s = score[order]
        new = s[1:] != s[:-1]
        del s
        rank = None
        if not new.all():
            rank = np.zeros(y.size, dtype=self._index)
            np.cumsum(new, out=rank[1:])
        self._y, self._rank = y[order], rank
        self._order = order  # last: a thread that sees the order sees the rest

    @property
    def labels(self) -> np.ndarray:
        """The labels in sample order (as given)."""
        return self._labels

    def in_order(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The labels and :attr:`sample_rank` taken in ``order`` (scores ranked by hashing), kept for the last
        ``order`` asked for: a comparison's groupings read a baseline in its candidate's order, one grouping
        after another (with several candidates, each new order replaces the kept one)."""
        if self.sample_rank is None:
            raise ValueError("in_order needs scores ranked by hashing (sample_rank is None)")
        kept = self._in_order
        if kept is None or kept[0] is not order:
            kept = self._in_order = (order, self._labels[order], self.sample_rank[order])  # one assignment: threads
        return kept[1], kept[2]

    @property
    def order(self) -> np.ndarray:
        if self._order is None:
            self._sort()
        return self._order  # type: ignore[return-value]

    @property
    def y(self) -> np.ndarray:
        self.order  # noqa: B018 (sorts on first use)
        return self._y  # type: ignore[return-value]

    @property
    def rank(self) -> np.ndarray | None:
        self.order  # noqa: B018 (sorts on first use)
        return self._rank


#: How many scores :class:`SortedScores` looks at to judge whether they have many ties.
_TIE_PROBE = 1 << 16


def _many_ties(score: np.ndarray) -> bool:
    """Whether ``score`` probably takes few distinct values, judged on a fixed sample of :data:`_TIE_PROBE` of
    them (small arrays are sorted: it costs little)."""
    if score.size < 2 * _TIE_PROBE:
        return False
    probe = score[np.random.default_rng(0).integers(0, score.size, _TIE_PROBE)]
    return np.unique(probe).size <= _TIE_PROBE // 2


def _dense_rank(score: np.ndarray, index: type) -> tuple[np.ndarray, int]:
    """Each score's dense rank among the distinct scores (equal scores, equal rank; -0.0 equals 0.0) and the
    number of ranks, without sorting the samples: the scores are hashed and only the distinct values sorted."""
    import pandas as pd

    codes, uniques = pd.factorize(score, use_na_sentinel=False)
    uniques = np.asarray(uniques)
    by_value = np.argsort(uniques, kind="stable")
    ranked = uniques[by_value]
    dense = np.zeros(uniques.size, dtype=index)
    np.cumsum(ranked[1:] != ranked[:-1], out=dense[1:])
    of_unique = np.empty(uniques.size, dtype=index)
    of_unique[by_value] = dense
    return of_unique[codes], int(dense[-1]) + 1 if dense.size else 0


#: Most cells (groups × distinct scores × 2 labels) of :func:`placements`' table, beyond the number of samples.
_TABLE_CELLS = 1 << 20


def placements(sorted_scores: SortedScores, codes: np.ndarray | None = None, n_groups: int = 1, *,
               out: np.ndarray | None = None, order: np.ndarray | None = None) -> np.ndarray:
    """Every sample's DeLong placement value within its group, in sample order: for a positive the share of its
    group's negatives scored below it (ties one half), for a negative the share of its group's positives scored
    above it (ties one half); NaN in a group without the other class.

    ``O(n)`` after the one ranking. Scores ranked by hashing: one count per (group, distinct score, label), a
    cumulative sum along the scores of each group, and a look-up per sample (while the table has at most as
    many cells as samples, or :data:`_TABLE_CELLS`). Sorted scores: each group's samples are taken in score
    order (a scan of the group codes in score order, or a stable radix sort of them for many groups); the
    counts below and above each sample are cumulative sums within its group, taken at the ends of its block of
    tied scores.

    ``out``, a float64 array of the samples' size, receives the values (a caller placing several groupings in
    turn reuses its memory instead of faulting in fresh pages each time).

    ``order``, a permutation of the samples, gives ``codes`` and the values in that order instead of sample
    order: ``sorted_scores.order`` itself when the scores were sorted (the values are then written in score
    order, without scattering them back to sample order), or any permutation when they are read from a table
    (see :func:`placement_order`, which picks it for a pair of models).
    """
    s = sorted_scores
    n_groups = 1 if codes is None else n_groups
    if out is None:
        out = np.empty(s.labels.size)
    elif out.shape != (s.labels.size,) or out.dtype != np.float64:
        raise ValueError(f"out must be a float64 array of shape ({s.labels.size},), got {out.dtype} {out.shape}")
    if _tabled(s, n_groups):
        y, rank = (s.labels, s.sample_rank) if order is None else s.in_order(order)
        return _placements_by_table(y, rank, s.n_ranks, codes, n_groups, out)  # type: ignore[arg-type]
    if order is not None and order is not s.order:
        raise ValueError("order must be None or sorted_scores.order for scores that are sorted, not read from a "
                         "table")
    for where, y, rank in _groups_in_score_order(s, codes, n_groups, given_in_score_order=order is not None):
        for lo, hi, values in _group_placements(y, rank):
            if where is None:
                out[lo:hi] = values
            else:
                out[where[lo:hi]] = values
    return out


def placement_order(a: SortedScores, b: SortedScores, n_groups: int = 1) -> np.ndarray | None:
    """The order in which :func:`placements` places two models' scores of the same samples in a grouping of
    ``n_groups``: ``a.order`` when ``a``'s scores are sorted and ``b``'s read from a table (then neither model's
    values are scattered back to sample order: ``b``'s table is read in ``a``'s order), else None (sample order)."""
    return a.order if not _tabled(a, n_groups) and _tabled(b, n_groups) else None


#: Up to this many groups, :func:`placements` finds each group's samples by a scan of the codes (one group's
#: arrays at a time); beyond it, by a stable radix sort of the codes (every group's at once).
_SCAN_GROUPS = 64


def _groups_in_score_order(s: SortedScores, codes: np.ndarray | None, n_groups: int,
                           given_in_score_order: bool = False,
                           ) -> Iterator[tuple[np.ndarray | None, np.ndarray, np.ndarray | None]]:
    """Each non-empty group's samples in score order: where they are (indices in sample order, or in score order
    when ``codes`` are ``given_in_score_order``; None for all of them in score order), their labels and dense
    ranks."""
    if codes is None or n_groups == 1:
        yield None if given_in_score_order else s.order, s.y, s.rank
        return
    in_order = codes if given_in_score_order else codes[s.order]
    if n_groups <= _SCAN_GROUPS:
        for g in range(n_groups):
            at = np.flatnonzero(in_order == g)
            if at.size:
                yield at if given_in_score_order else s.order[at], s.y[at], None if s.rank is None else s.rank[at]
        return
    size = np.bincount(in_order, minlength=n_groups)
    regroup = np.argsort(in_order, kind="stable").astype(s.order.dtype, copy=False)
    del in_order
    where = regroup if given_in_score_order else s.order[regroup]
    y, rank = s.y[regroup], None if s.rank is None else s.rank[regroup]
    del regroup
    lo = 0
    for count in size.tolist():
        if count:
            yield where[lo:lo + count], y[lo:lo + count], None if rank is None else rank[lo:lo + count]
        lo += count


def _tabled(s: SortedScores, n_groups: int) -> bool:
    """Whether :func:`placements` of ``s`` in a grouping of ``n_groups`` come from a table (hashed ranks, a table
    not too big)."""
    return s.sample_rank is not None and 2 * n_groups * s.n_ranks <= max(s.labels.size, _TABLE_CELLS)


def _placements_by_table(y: np.ndarray, rank: np.ndarray, n_ranks: int, codes: np.ndarray | None,
                         n_groups: int, out: np.ndarray) -> np.ndarray:
    """:func:`placements` from each sample's dense ``rank`` (sample order): the counts of each (group, rank,
    label) cell, the negatives below and positives above each cell within its group, one look-up per sample.
    The arithmetic is :func:`_group_placements`' (integer counts, halves, one division), so the floats are equal."""
    wide = np.int64 if 2 * n_groups * n_ranks >= 2**31 else np.int32

    # each sample's cell, _CHUNK samples at a time, made twice (for the counts, then for the look-ups) rather
    # than kept: an array of cells the samples' size was the largest temporary of a comparison at scale
    def key(lo: int) -> np.ndarray:
        k = rank[lo:lo + _CHUNK].astype(wide)
        if codes is not None:
            k += np.multiply(codes[lo:lo + _CHUNK], n_ranks, dtype=wide)
        k <<= 1
        part = y[lo:lo + _CHUNK]
        k |= part.view(np.int8) if part.dtype == np.bool_ else part.astype(np.int8)
        return k

    counts = np.zeros(2 * n_groups * n_ranks, dtype=np.int64)
    for lo in range(0, y.size, _CHUNK):
        counts += np.bincount(key(lo), minlength=counts.size)
    counts = counts.reshape(n_groups, n_ranks, 2)
    neg, pos = counts[..., 0], counts[..., 1]
    n0, n1 = neg.sum(axis=1, keepdims=True), pos.sum(axis=1, keepdims=True)
    table = np.empty((n_groups, n_ranks, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        # a positive: the group's negatives below its score, plus half of those tied with it
        np.divide((np.cumsum(neg, axis=1) - neg) + 0.5 * neg, n0, out=table[..., 1])
        # a negative: the group's positives above its score, plus half of those tied with it
        np.divide((n1 - np.cumsum(pos, axis=1)) + 0.5 * pos, n1, out=table[..., 0])
    table[((n0 == 0) | (n1 == 0))[:, 0]] = np.nan
    for lo in range(0, y.size, _CHUNK):
        np.take(table.reshape(-1), key(lo), out=out[lo:lo + _CHUNK])
    return out


#: Samples of one group handled at a time by :func:`_group_placements` (its temporaries stay small).
_CHUNK = 1 << 20


def _group_placements(y: np.ndarray, rank: np.ndarray | None) -> Iterator[tuple[int, int, np.ndarray]]:
    """:func:`placements` of one group's samples given in score order (``rank`` non-decreasing; None: distinct),
    in chunks ``(lo, hi, values)`` of about :data:`_CHUNK` samples, each ending where a block of tied scores
    ends: the counts of a chunk's samples are the group's, carried from the chunks before it."""
    n = y.size
    n1 = int(np.count_nonzero(y))
    n0 = n - n1
    if n1 == 0 or n0 == 0:
        yield 0, n, np.full(n, np.nan)
        return
    new = None if rank is None else np.r_[True, rank[1:] != rank[:-1]]  # the first of a block of tied scores
    lo = before = 0
    while lo < n:
        hi = min(lo + _CHUNK, n)
        if new is not None and hi < n:  # move the end to the start of the next block
            ahead = int(np.argmax(new[hi:]))
            hi = hi + ahead if new[hi + ahead] else n
        part = y[lo:hi]
        yield lo, hi, _chunk_placements(part, None if new is None else new[lo:hi], lo, before, n0, n1)
        before += int(np.count_nonzero(part))
        lo = hi


def _chunk_placements(y: np.ndarray, new: np.ndarray | None, offset: int, before: int, n0: int,
                      n1: int) -> np.ndarray:
    """The placements of a group's samples ``offset`` to ``offset + y.size`` (whole blocks of tied scores;
    ``new`` marks each block's first sample), with ``before`` positives before them and ``n0``, ``n1`` in the
    group. Positions and counts are the group's, so the floats are those of the whole group at once."""
    n = y.size
    index = np.int32 if offset + n + before < 2**31 else np.int64
    pos = np.cumsum(y, dtype=index)  # the group's positives through each sample
    pos += before
    if new is None or new.all():  # distinct scores: a negative has n1 - pos positives above it,
        out = pos.astype(np.float64)
        np.subtract(n1, out, out=out)
        out /= n1
        below = np.flatnonzero(y)  # and a positive at i has i - (pos - 1) negatives below it
        out[below] = (below + offset - pos[below] + 1) / n0
        return out
    # ties: the counts before a sample's block and through it, each sample's block found by running extrema
    position = np.arange(n, dtype=index)
    first = np.where(new, position, 0)
    np.maximum.accumulate(first, out=first)
    last = np.minimum.accumulate(np.where(np.r_[new[1:], True], position, n)[::-1])[::-1]
    del position
    pos_before = pos[first] - y[first]
    pos_through = pos[last]
    out = np.add(pos_before, pos_through, dtype=np.float64)  # a negative: n1 - pos_through + half the block's
    out *= -0.5
    out += n1
    out /= n1
    below = np.flatnonzero(y)  # a positive: first - pos_before negatives before its block + half the block's
    first_at, last_at = first[below] + offset, last[below] + offset
    out[below] = 0.5 * (first_at.astype(np.float64) + last_at + 1 - pos_before[below] - pos_through[below]) / n0
    return out


def delong_by_group(y: np.ndarray, placement_a: np.ndarray, placement_b: np.ndarray, codes: np.ndarray | None,
                    n_groups: int, *, level: float = CI_LEVEL) -> list[dict[str, float]]:
    """:func:`delong` in every group of one grouping, from the two models' :func:`placements` in that grouping:
    each group's AUCs are its positives' mean placement, the variance of the difference is that of the
    placement differences over its positives and over its negatives (two-pass, centred on each group's mean)."""
    slots = 2 * n_groups
    count, sum_a, sum_b, sum_d, squares = (np.zeros(slots) for _ in range(5))
    step = 1 << 20  # a million samples at a time: temporaries stay small

    def key(lo: int) -> np.ndarray:
        part = y[lo:lo + step]
        return part.astype(np.int32) if codes is None else codes[lo:lo + step].astype(np.int32) * 2 + part

    for lo in range(0, y.size, step):
        k, a, b = key(lo), placement_a[lo:lo + step], placement_b[lo:lo + step]
        count += np.bincount(k, minlength=slots)
        sum_a += np.bincount(k, weights=a, minlength=slots)
        sum_b += np.bincount(k, weights=b, minlength=slots)
        sum_d += np.bincount(k, weights=a - b, minlength=slots)
    mean = sum_d / np.maximum(count, 1)
    for lo in range(0, y.size, step):  # the second pass: squares centred on each group's mean difference
        k = key(lo)
        d = placement_a[lo:lo + step] - placement_b[lo:lo + step] - mean[k]
        squares += np.bincount(k, weights=d * d, minlength=slots)
    auc_a, auc_b = sum_a.reshape(n_groups, 2)[:, 1], sum_b.reshape(n_groups, 2)[:, 1]
    squares = squares.reshape(n_groups, 2)
    count = count.reshape(n_groups, 2)
    out = []
    for g in range(n_groups):
        n, m = int(count[g, 0]), int(count[g, 1])
        if m == 0 or n == 0:
            out.append(delong_from_variances(math.nan, math.nan, 0.0, 0.0, m, n, level=level))
            continue
        var10 = squares[g, 1] / (m - 1) if m > 1 else 0.0
        var01 = squares[g, 0] / (n - 1) if n > 1 else 0.0
        out.append(delong_from_variances(float(auc_a[g] / m), float(auc_b[g] / m), float(var10), float(var01), m, n,
                                         level=level))
    return out
